import type { FormatSpecificInfo } from '@vdisk/core';
import { humanSize } from './human-size.js';

/** What `info` tells of an open image. */
export interface InfoFacts {
  filename: string;
  format: string;
  virtualSize: number;
  /**
   * Bytes the file takes on its disk (st_blocks), or undefined where that cannot be known:
   * a browser's `File` says how long it is, not how much of it is allocated.
   */
  actualSize?: number;
  specific?: FormatSpecificInfo;
}

/**
 * `vdisk info`'s human form, after qemu-img info's bdrv_image_info_dump: one string per
 * line. Without an actual size it prints `disk size: unavailable`, QEMU's words when
 * the allocated size cannot be had.
 */
export function infoLines(facts: InfoFacts): string[] {
  const lines = [
    `image: ${facts.filename}`,
    `file format: ${facts.format}`,
    `virtual size: ${humanSize(facts.virtualSize)} (${facts.virtualSize} bytes)`,
    `disk size: ${facts.actualSize === undefined ? 'unavailable' : humanSize(facts.actualSize)}`,
  ];
  if (facts.specific) {
    lines.push('Format specific information:');
    for (const [key, value] of Object.entries(facts.specific.data)) {
      lines.push(`    ${key.replaceAll('-', ' ')}: ${value}`);
    }
  }
  return lines;
}
