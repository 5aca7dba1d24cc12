#!/usr/bin/env node
import { main } from './main.js';
import { removeTemporariesSync } from './temporary-files.js';

/** The signals that end a command: Ctrl-C, kill, a closed terminal, Ctrl-\. */
const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1, SIGQUIT: 3 } as const;

// The first signal aborts the running command, which cleans up (convert removes its partial
// output, io stops between commands and closes the image) and exits 1. A second one, of any
// of them, means "now": what is left is removed synchronously and the process ends as the
// shell expects of a process killed by that signal (128 + its number).
const controller = new AbortController();
for (const [name, number] of Object.entries(SIGNALS)) {
  process.on(name, () => {
    if (!controller.signal.aborted) {
      controller.abort();
      return;
    }
    removeTemporariesSync();
    process.exit(128 + number);
  });
}
// An exit on an unexpected path (an error thrown past the command) removes them too.
process.on('exit', removeTemporariesSync);

main(process.argv.slice(2), controller.signal).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`vdisk: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
