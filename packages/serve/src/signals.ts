import { constants } from 'node:os'

/** @internal What the process does on signals; returns a function that removes the listeners. */
export function onSignals(handlers: {
  /** The first SIGTERM or SIGINT: a graceful shutdown. */
  graceful(signal: NodeJS.Signals): void
  /** The second: exit now; returns the exit code. */
  force(signal: NodeJS.Signals): number
  /** SIGHUP, if given. */
  reload?: () => void
}): () => void {
  let count = 0
  const onSignal = (signal: NodeJS.Signals) => {
    if (++count === 1) handlers.graceful(signal)
    else process.exit(handlers.force(signal))
  }
  const onHangUp = () => handlers.reload?.()
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  if (handlers.reload !== undefined) process.on('SIGHUP', onHangUp)
  return () => {
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
    process.off('SIGHUP', onHangUp)
  }
}

/** @internal 128 + the signal's number: the exit code of a process a signal ended. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0)
}
