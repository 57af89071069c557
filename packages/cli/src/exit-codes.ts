/**
 * Exit codes of `statestream`, and the one-line error report. Documented in the package README;
 * scripts may branch on them, so they are stable.
 */

/** Every exit code the command uses. */
export const EXIT = {
  /** Done. */
  OK: 0,
  /** The server refused the request, or something unexpected went wrong. */
  FAILED: 1,
  /** Bad usage: an unknown command or option, a missing argument, a malformed time or JSON input. */
  USAGE: 2,
  /** The stream (or route) does not exist. */
  NOT_FOUND: 3,
  /** A conflict: the stream exists with another configuration, is closed, or an import target diverged. */
  CONFLICT: 4,
  /** No or a wrong token (401), or the token lacks the grant (403). */
  AUTH: 5,
  /** The server could not be reached, or kept failing. */
  UNREACHABLE: 6,
  /** Stopped by Ctrl-C (128 + SIGINT); an interrupted import can be run again to resume. */
  INTERRUPTED: 130,
} as const

export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

/** An error the command reports itself: a code of ours (or the server's) and a message. */
export class CliError extends Error {
  /** The error code shown first on the line (the server's code, or one of the command's own). */
  readonly code: string
  readonly exitCode: ExitCode

  constructor(code: string, message: string, exitCode: ExitCode = EXIT.FAILED) {
    super(message)
    this.name = 'CliError'
    this.code = code
    this.exitCode = exitCode
  }
}

/** A usage error: bad arguments or input, exit code 2. */
export function usageError(message: string): CliError {
  return new CliError('USAGE', message, EXIT.USAGE)
}

/** A file that is not a well-formed export (a line out of place, a field missing): exit code 2. */
export function invalidExport(message: string): CliError {
  return new CliError('INVALID_EXPORT', message, EXIT.USAGE)
}

/** Exit code of each server or client error code that is not a plain failure. */
const EXIT_OF_CODE: Record<string, ExitCode> = {
  BAD_REQUEST: EXIT.USAGE,
  INVALID_STREAM_NAME: EXIT.USAGE,
  INVALID_JSON: EXIT.USAGE,
  INVALID_MUTATION: EXIT.USAGE,
  INVALID_PARAMETER: EXIT.USAGE,
  INVALID_OFFSET: EXIT.USAGE,
  EMPTY_BODY: EXIT.USAGE,
  STREAM_NOT_FOUND: EXIT.NOT_FOUND,
  NOT_FOUND: EXIT.NOT_FOUND,
  STREAM_DELETED: EXIT.NOT_FOUND,
  STREAM_CONFLICT: EXIT.CONFLICT,
  STREAM_CLOSED: EXIT.CONFLICT,
  CONTENT_TYPE_MISMATCH: EXIT.CONFLICT,
  TS_REGRESSION: EXIT.CONFLICT,
  STREAM_SEQ_REGRESSION: EXIT.CONFLICT,
  NOT_A_STATE_STREAM: EXIT.CONFLICT,
  MUTATION_FAILED: EXIT.CONFLICT,
  UNAUTHORIZED: EXIT.AUTH,
  FORBIDDEN: EXIT.AUTH,
  NETWORK: EXIT.UNREACHABLE,
  SHUTTING_DOWN: EXIT.UNREACHABLE,
}

/** The exit code of an error code (the server's, the client's, or ours). */
export function exitOfCode(code: string): ExitCode {
  return EXIT_OF_CODE[code] ?? EXIT.FAILED
}

/** The code, message and exit code to report for anything thrown. */
export function describeError(err: unknown): { code: string; message: string; exitCode: ExitCode } {
  if (err instanceof CliError) return { code: err.code, message: err.message, exitCode: err.exitCode }
  const { code, message } = err as { code?: unknown; message?: unknown }
  if (typeof code === 'string' && typeof message === 'string') {
    return { code, message: causeOf(err, message), exitCode: exitOfCode(code) }
  }
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err), exitCode: EXIT.FAILED }
}

/** The one line printed on stderr for an error: `statestream: CODE: message`. */
export function errorLine(err: unknown): string {
  const { code, message } = describeError(err)
  // Node's own errors start with their code ("EISDIR: illegal operation…"): it is said once.
  const text = message.startsWith(`${code}: `) ? message.slice(code.length + 2) : message
  return `statestream: ${code}: ${text.replace(/\s*\n\s*/g, ' ')}`
}

/** A network error's message with its cause (e.g. "connect ECONNREFUSED 127.0.0.1:4437"), which says what happened. */
function causeOf(err: unknown, message: string): string {
  let cause = (err as { cause?: unknown }).cause
  while (cause !== undefined && cause !== null) {
    const inner = cause as { message?: unknown; code?: unknown; cause?: unknown }
    if (typeof inner.message === 'string' && inner.message !== '' && !message.includes(inner.message)) {
      return `${message} (${inner.message})`
    }
    cause = inner.cause
  }
  return message
}
