#!/usr/bin/env node
import { commandLineArguments } from './argv.js';
import { main } from './main.js';
import { finish, listenForInterrupts } from './signals.js';
import { watchStandardOutput } from './stdout.js';

watchStandardOutput();
const signal = listenForInterrupts();

main(await commandLineArguments(), signal).then(finish, (error: unknown) => {
  process.stderr.write(`vdisk: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
  finish(1);
});
