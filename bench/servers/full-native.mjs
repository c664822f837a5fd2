// Bare node:http answering the full-* scenarios' request with the same 11-byte body and
// content type, and nothing else: the baseline of the full-stack family (the `native`
// scenario answers a 5-byte 'hello' and stays the baseline of the other scenarios).
import { HELLO, TEXT } from './full-common.mjs'
import { serve } from './serve.mjs'

serve('full-native', (_req, res) => {
  res.setHeader('content-type', TEXT)
  res.end(HELLO)
})
