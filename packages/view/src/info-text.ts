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
  /** The image's backing file: its name as the image gives it, the path opened, its format. */
  backing?: { filename: string; fullFilename: string; format: string };
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
  if (facts.backing) {
    // bdrv_image_info_dump: the name as the image gives it, and the path opened when it differs.
    const { filename, fullFilename, format } = facts.backing;
    const actual = fullFilename === filename ? '' : ` (actual path: ${fullFilename})`;
    lines.push(`backing file: ${filename}${actual}`, `backing file format: ${format}`);
  }
  if (facts.specific) {
    lines.push('Format specific information:');
    for (const [key, value] of Object.entries(facts.specific.data)) {
      lines.push(`    ${key.replaceAll('-', ' ')}: ${value}`);
    }
  }
  return lines;
}
