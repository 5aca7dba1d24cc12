import { hasErrorCode, isVdiskError } from '@vdisk/core';
import { debug } from './debug-mode.js';
import { interrupted } from './signals.js';

/**
 * The one line a failure prints: `vdisk: FILE: MESSAGE`, or `vdisk: MESSAGE` when no file
 * is concerned. An error that is not a VdiskError is a bug in vdisk: it says so, still in
 * one line, and `--debug` shows the stack. VdiskErrors are known by their brand, so a
 * plugin's errors (made by its own copy of core) print as theirs too.
 */
export function errorLine(error: unknown, filename?: string): string {
  const file = isVdiskError(error) ? (error.filename ?? filename) : filename;
  const message = isVdiskError(error)
    ? error.message
    : `internal error: ${error instanceof Error ? error.message : String(error)}`;
  return file === undefined || file === '' ? `vdisk: ${message}` : `vdisk: ${file}: ${message}`;
}

export function reportError(error: unknown, filename?: string): void {
  // Ctrl-C ends a command through an AbortedError: qemu-img says nothing then, nor does vdisk.
  if (interrupted() && hasErrorCode(error, 'EABORT')) return;
  process.stderr.write(`${errorLine(error, filename)}\n`);
  if (debug.enabled && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
}
