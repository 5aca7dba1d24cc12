import type { BlockStatusOptions, BlockStatusRun, FormatSpecificInfo } from '@vdisk/core';

/**
 * What qemu-io's commands need of an open image: the part of core's `BlockDevice` they use,
 * so that the command language is tested on its own.
 */
export interface IoDevice {
  readonly format: string;
  readonly virtualSize: number;
  readonly requestAlignment: number;
  readonly writable: boolean;
  readInto(buffer: Uint8Array, offset: number): Promise<void>;
  write(offset: number, bytes: Uint8Array, options?: { fua?: boolean }): Promise<void>;
  writeZeroes(offset: number, length: number, options?: { mayUnmap?: boolean }): Promise<void>;
  discard(offset: number, length: number): Promise<void>;
  flush(): Promise<void>;
  blockStatus(offset: number, length: number, options?: BlockStatusOptions): Promise<BlockStatusRun[]>;
  info(): FormatSpecificInfo | undefined;
}
