import { isVdiskError } from '@vdisk/core';

/** An error as the CLI prints it: `FILE: MESSAGE`, the message alone for a VdiskError. */
export function errorText(filename: string, error: unknown): string {
  const message = isVdiskError(error) || error instanceof Error ? error.message : String(error);
  return `${filename}: ${message}`;
}
