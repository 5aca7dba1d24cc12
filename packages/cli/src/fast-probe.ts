import { probeCommand } from './commands/probe.js';
import { reportError } from './error-line.js';
import { start } from './start.js';

/**
 * `vdisk probe FILE...` without options (plain-probe.ts), run as commander would run it,
 * without loading commander or building the other commands: `vdisk probe` is what scripts
 * run once per file, so its start-up counts. The bundle makes this file one CommonJS file
 * of its own (scripts/bundle-cli.mjs). Its errors are main's: one line each, exit 1.
 */
start(async ([, ...files], signal) => {
  try {
    return await probeCommand(files, { output: 'human', signal });
  } catch (error) {
    reportError(error);
    return 1;
  }
});
