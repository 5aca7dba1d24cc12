#!/usr/bin/env node
import { commandLineArguments } from './argv.js';
import { cliLocation } from './cli-location.js';
import { main } from './main.js';
import { finish, listenForInterrupts } from './signals.js';
import { watchStandardOutput } from './stdout.js';
import { removeTemporariesSync } from './temporary-files.js';

cliLocation.url = import.meta.url;
watchStandardOutput();
const signal = listenForInterrupts();
// An exit on an unexpected path (an error thrown past the command) removes convert's and
// create's temporary files too.
process.on('exit', removeTemporariesSync);

main(await commandLineArguments(), signal).then(finish, (error: unknown) => {
  process.stderr.write(`vdisk: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
  finish(1);
});
