#!/usr/bin/env node
import { commandLineArguments } from './argv.js';
import { cliLocation } from './cli-location.js';
import { main } from './main.js';
import { finish, listenForInterrupts } from './signals.js';
import { watchStandardOutput } from './stdout.js';

cliLocation.url = import.meta.url;
watchStandardOutput();
const signal = listenForInterrupts();

main(await commandLineArguments(), signal).then(finish, (error: unknown) => {
  process.stderr.write(`vdisk: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
  finish(1);
});
