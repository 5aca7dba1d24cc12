import { commandLineArguments } from './argv.js';
import { finish, listenForInterrupts } from './signals.js';
import { watchStandardOutput } from './stdout.js';
import { removeTemporariesSync } from './temporary-files.js';

/** A command line's whole run: its arguments (without `node vdisk`) in, its exit code out. */
export type CommandLine = (args: string[], signal: AbortSignal) => Promise<number>;

/**
 * What every run of vdisk does around its command, on both of bin's paths: standard output
 * that fails ends the process as qemu-img would, signals abort the command, and the exit
 * code becomes the process's.
 */
export function start(run: CommandLine): void {
  watchStandardOutput();
  const signal = listenForInterrupts();
  // An exit on an unexpected path (an error thrown past the command) removes convert's and
  // create's temporary files too.
  process.on('exit', removeTemporariesSync);
  commandLineArguments()
    .then((args) => run(args, signal))
    .then(finish, (error: unknown) => {
      process.stderr.write(`vdisk: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
      finish(1);
    });
}
