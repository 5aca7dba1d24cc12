import type { CheckReport } from '@vdisk/core';

/**
 * `vdisk check`'s human report, in qemu-img check's words (its "clusters" are our
 * extents' slots); the browser test compares it with the CLI's output.
 */
export function checkText(report: CheckReport): string {
  const corruptions =
    report.problems.filter((p) => p.kind === 'corruption').length + (report.omitted?.corruptions ?? 0);
  const leaks = report.problems.filter((p) => p.kind === 'leak').length + (report.omitted?.leaks ?? 0);
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
