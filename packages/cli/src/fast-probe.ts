import { probeCommand } from './commands/probe.js';
import { reportError } from './error-line.js';
import { plainProbe } from './plain-probe.js';
import { start } from './start.js';

/**
 * `vdisk probe FILE...` with no option but `--output` (plain-probe.ts), run as commander
 * would run it, without loading commander or building the other commands: `vdisk probe` is
 * what scripts run once per file, so its start-up counts. The bundle makes this file one
 * CommonJS file of its own (scripts/bundle-cli.mjs). Its errors are main's: one line each,
 * exit 1.
 */
start(async (args, signal) => {
  // bin checked these arguments; decoded (argv.ts), they keep their places.
  const { files, output } = plainProbe(args) as NonNullable<ReturnType<typeof plainProbe>>;
  try {
    return await probeCommand(files, { output, signal });
  } catch (error) {
    reportError(error);
    return 1;
  }
});
