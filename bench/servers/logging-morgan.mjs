// expressjs/morgan on bare node:http, 'combined' to a file: the peer of
// logging-shallot-combined.mjs.
import { createWriteStream, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import morgan from 'morgan'
import { onBare } from './connect.mjs'
import { handler } from './handler.mjs'
import { serve } from './serve.mjs'

const file = join(tmpdir(), `shallot-bench-logging-morgan-${process.pid}.log`)
process.on('exit', () => rmSync(file, { force: true }))

serve('logging-morgan', onBare(morgan('combined', { stream: createWriteStream(file) }), handler))
