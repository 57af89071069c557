/**
 * The `statestream` command on the real process: its arguments, streams and environment, Ctrl-C,
 * and its exit code. Everything else is in `program.ts`.
 */
import { runProgram } from './program.ts'

const interrupt = new AbortController()
process.once('SIGINT', () => {
  // The first Ctrl-C stops the command cleanly (an import finishes the batch on its way); a
  // second one does not wait.
  interrupt.abort(new Error('interrupted'))
  process.once('SIGINT', () => process.exit(130))
})
// A reader that went away (`statestream history … | head`) is not an error of ours.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0)
  throw err
})

const code = await runProgram(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  signal: interrupt.signal,
})
// Exit now: stdout and stderr are synchronous for files, pipes and terminals on Linux, and an idle
// handle (stdin, a keep-alive socket) must not hold the process open.
process.exit(code)
