import { AbortedError, type BlockDevice, type CheckReport, type RepairMode } from '@vdisk/core';
import { openFile } from '@vdisk/core/node';
import { defaultRegistry } from '../default-registry.js';
import { reportError } from '../error-line.js';

export interface CheckOptions {
  format?: string;
  options?: Record<string, string>;
  output: 'human' | 'json';
  /** `-r leaks|all`: open the image writable and repair (qemu-img check -r). */
  repair?: RepairMode;
  signal?: AbortSignal;
}

/** qemu-img check's exit codes. */
export const CHECK_EXIT = {
  clean: 0,
  /** The check could not complete: unreadable file, an image that does not open. */
  failed: 1,
  corruption: 2,
  leaksOnly: 3,
  /** The format has no check (ENOTSUP in qemu-img). */
  unsupported: 63,
} as const;

/**
 * `vdisk check [-r leaks|all] FILE`, after `qemu-img check`. With `-r` the image is opened
 * writable and the driver repairs what it can (`leaks`: reclaims leaked space only); the
 * exit code is that of the image after the repair.
 */
export async function checkCommand(filename: string, opts: CheckOptions): Promise<number> {
  let device: BlockDevice;
  let report: CheckReport;
  try {
    device = await openFile(defaultRegistry(), filename, {
      format: opts.format,
      options: opts.options,
      writable: opts.repair !== undefined,
    });
  } catch (error) {
    reportError(error, filename);
    return CHECK_EXIT.failed;
  }
  try {
    if (!device.canCheck) {
      // qemu-img's words; the format is named so the user knows what was probed.
      process.stderr.write(`vdisk: ${filename}: This image format (${device.format}) does not support checks\n`);
      return CHECK_EXIT.unsupported;
    }
    // A driver's check takes no signal: Ctrl-C ends the command, and the check with the process.
    report = await untilAborted(device.check(opts.repair ? { repair: opts.repair } : undefined), opts.signal);
  } catch (error) {
    reportError(error, filename);
    return CHECK_EXIT.failed;
  } finally {
    if (!opts.signal?.aborted) await device.close();
  }

  // A driver lists a bounded number of problems and counts the rest (`omitted`).
  const corruptions =
    report.problems.filter((p) => p.kind === 'corruption').length + (report.omitted?.corruptions ?? 0);
  const leaks = report.problems.filter((p) => p.kind === 'leak').length + (report.omitted?.leaks ?? 0);
  const repaired = report.repaired ?? { corruptions: 0, leaks: 0 };
  if (opts.output === 'json') {
    const json: Record<string, unknown> = {
      filename,
      format: device.format,
      'check-errors': 0,
      corruptions,
      leaks,
    };
    // qemu-img's keys for what a repair fixed.
    if (opts.repair) Object.assign(json, { 'leaks-fixed': repaired.leaks, 'corruptions-fixed': repaired.corruptions });
    json.problems = report.problems;
    process.stdout.write(`${JSON.stringify(json, null, 4)}\n`);
  } else {
    if (repaired.leaks > 0 || repaired.corruptions > 0) {
      // qemu-img check -r's lines; the report that follows is of the image after the repair.
      process.stdout.write(
        'The following inconsistencies were found and repaired:\n\n' +
          `    ${repaired.leaks} leaked extents\n    ${repaired.corruptions} corruptions\n\n` +
          'Double checking the fixed image now...\n',
      );
    }
    process.stdout.write(humanReport(report, corruptions, leaks));
  }
  if (corruptions > 0) return CHECK_EXIT.corruption;
  if (leaks > 0) return CHECK_EXIT.leaksOnly;
  return CHECK_EXIT.clean;
}

/** qemu-img check's wording (its "clusters" are our extents' slots). */
function humanReport(report: CheckReport, corruptions: number, leaks: number): string {
  if (report.problems.length === 0) return 'No errors were found on the image.\n';
  let text = '';
  for (const problem of report.problems) {
    text += `${problem.kind === 'corruption' ? 'ERROR' : 'Leaked'}: ${problem.message}\n`;
  }
  const omitted = (report.omitted?.corruptions ?? 0) + (report.omitted?.leaks ?? 0);
  if (omitted > 0) text += `... and ${omitted} more problems, not listed.\n`;
  if (corruptions > 0) {
    text += `\n${corruptions} errors were found on the image.\nData may be corrupted, or further writes to the image may corrupt it.\n`;
  }
  if (leaks > 0) {
    text += `\n${leaks} leaked extents were found on the image.\nThis means waste of disk space, but no harm to data.\n`;
  }
  return text;
}

/** `work`, or an AbortedError as soon as `signal` fires. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) return Promise.reject(new AbortedError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortedError());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
