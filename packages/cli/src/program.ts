/**
 * The `statestream` program: global options, every command, and how a command's run ends (its
 * exit code, one error line, Ctrl-C). `main.ts` runs it on the process; the commands live in
 * `commands/`, one file per concern.
 */
import { Command, CommanderError, Option } from 'commander'
import { readFileSync } from 'node:fs'
import { connect, DEFAULT_URL } from './context.ts'
import type { Context, GlobalOptions } from './context.ts'
import { CliError, EXIT, describeError, errorLine, usageError } from './exit-codes.ts'
import type { ExitCode } from './exit-codes.ts'
import { registerExport } from './commands/export.ts'
import { registerImport } from './commands/import.ts'
import { registerRead } from './commands/read.ts'
import { registerStreams } from './commands/streams.ts'
import { registerTail } from './commands/tail.ts'
import { registerWrite } from './commands/write.ts'

/** The package's version (its package.json is one level above src/ and dist/ alike). */
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version

/** The process a program runs in (the real one in `main.ts`). */
export interface ProgramIo {
  stdout: NodeJS.WriteStream
  stderr: NodeJS.WriteStream
  stdin: NodeJS.ReadStream
  env: NodeJS.ProcessEnv
  /** Aborted on Ctrl-C. */
  signal: AbortSignal
}

/** Runs one command's work with a connected client; the client is closed however it ends. */
export type Runner = (command: Command, work: (context: Context) => Promise<void>) => Promise<void>

const EXIT_CODES_HELP = `
Exit codes:
  0    done
  1    the server refused the request, or an unexpected failure
  2    bad usage: unknown option, missing argument, malformed time or JSON
  3    the stream does not exist
  4    conflict: another configuration, a closed stream, a diverged import target
  5    unauthorized (no or a bad token) or forbidden (the token lacks the grant)
  6    the server could not be reached
  130  stopped by Ctrl-C (an import can be run again to resume)

Times (--at, --from, --to): ISO 8601 with a zone (2024-01-01T06:25:00Z), epoch
milliseconds, now, or relative to now (-5m, -90s, -2h, -1d).`

/** Builds the program; `parseAsync` it with the arguments. Resolves to the exit code. */
export function buildProgram(io: ProgramIo): { program: Command; exitCode: () => ExitCode } {
  const now = Date.now()
  let exitCode: ExitCode = EXIT.OK
  const program = new Command('statestream')
    .description('Streams, history, live tails, export and import of a statestream server')
    .version(VERSION, '-V, --version')
    .addOption(new Option('--url <url>', 'the server').env('STATESTREAM_URL').default(DEFAULT_URL))
    .addOption(new Option('--token <jwt>', 'bearer token, when the server has access control on').env('STATESTREAM_TOKEN'))
    .addHelpText('after', EXIT_CODES_HELP)
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      // The parser's complaints (an unknown option, a missing argument, a bad value) are usage
      // errors like any other: one line with the code, the hint on the same line.
      outputError: (text, write) => write(`${errorLine(usageError(`${text.replace(/^error: /, '').trim()} (add --help for usage)`))}\n`),
    })
    .exitOverride()

  const run: Runner = async (command, work) => {
    const globals = command.optsWithGlobals<GlobalOptions>()
    const { client, server } = connect(globals, command.getOptionValueSourceWithGlobals('url') === 'env' ? 'STATESTREAM_URL' : '--url')
    try {
      await work({ client, server, signal: io.signal, stdout: io.stdout, stderr: io.stderr, stdin: io.stdin, now })
      if (io.signal.aborted) exitCode = EXIT.INTERRUPTED
    } catch (err) {
      if (io.signal.aborted) {
        // Stopped by Ctrl-C: only a command's own word on it (how to resume) is worth a line.
        exitCode = EXIT.INTERRUPTED
        if (err instanceof CliError) io.stderr.write(`${errorLine(err)}\n`)
        return
      }
      exitCode = describeError(err).exitCode
      io.stderr.write(`${errorLine(err)}\n`)
    } finally {
      await client.close()
    }
  }

  program
    .command('serve')
    .description('run the server: the same flags and variables as statestream-server (statestream serve --help)')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()

  const deps = { run, now, io }
  registerStreams(program, deps)
  registerWrite(program, deps)
  registerRead(program, deps)
  registerTail(program, deps)
  registerExport(program, deps)
  registerImport(program, deps)

  return { program, exitCode: () => exitCode }
}

/** What each command module is given. */
export interface CommandDeps {
  run: Runner
  /** The clock reading of this run: relative times count from it. */
  now: number
  io: ProgramIo
}

/** The program's own options at the start of `argv` (`--url x`, `--token=y`, …): their names, and how many arguments they take up. */
function leadingGlobals(argv: readonly string[]): { names: Set<string>; length: number } {
  const names = new Set<string>()
  let i = 0
  for (;;) {
    const [name, value] = (argv[i] ?? '').split(/=(.*)/s)
    if (name !== '--url' && name !== '--token') return { names, length: Math.min(i, argv.length) }
    names.add(name)
    i += value === undefined ? 2 : 1
  }
}

/** Parses and runs `argv` (without node and the script); resolves to the process's exit code. */
export async function runProgram(argv: readonly string[], io: ProgramIo): Promise<ExitCode> {
  // `serve` is the standalone server itself: its own flags (the server's one table), its own
  // help, and its process's life; nothing of this program's options applies to it.
  const globals = leadingGlobals(argv)
  if (argv[globals.length] === 'serve') {
    if (globals.length > 0) {
      // They would configure a client that `serve` does not have: refused rather than silently dropped.
      const given = [...globals.names]
      io.stderr.write(`${errorLine(usageError(`${given.join(' and ')} ${given.length > 1 ? 'are options' : 'is an option'} of the client commands, not of serve: give serve its own flags (statestream serve --help)`))}\n`)
      return EXIT.USAGE
    }
    const { runServer } = await import('@statestream/server')
    await runServer(argv.slice(1), io.env, 'statestream serve')
    // Listening: the server ends the process itself, on SIGINT or SIGTERM, once it has shut down.
    return new Promise<never>(() => {})
  }
  const { program, exitCode } = buildProgram(io)
  try {
    await program.parseAsync(argv, { from: 'user' })
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE
    }
    io.stderr.write(`${errorLine(err)}\n`)
    return describeError(err).exitCode
  }
  return exitCode()
}
