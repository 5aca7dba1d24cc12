/** Bytes a hex row shows. */
export const ROW_BYTES = 16;

/** Hex digits of the offset column: enough for the last offset, at least 8. */
export function offsetDigits(size: number): number {
  return Math.max(8, Math.max(0, size - 1).toString(16).length);
}

/**
 * One row of the hex view, as `hexdump -C` lays it out: the offset, 16 bytes in two
 * groups of 8, and the printable ASCII between bars (a dot for anything else).
 */
export function hexRow(offset: number, bytes: Uint8Array, digits: number): string {
  let hex = '';
  let text = '';
  for (let i = 0; i < ROW_BYTES; i++) {
    if (i === 8) hex += ' ';
    const byte = bytes[i];
    if (byte === undefined) {
      hex += '   ';
      continue;
    }
    hex += ` ${byte.toString(16).padStart(2, '0')}`;
    text += byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.';
  }
  return `${offset.toString(16).padStart(digits, '0')} ${hex}  |${text}|`;
}

/**
 * An offset typed by the user: decimal, `0x` hex, or with a binary suffix (`1M`, `4KiB`).
 * Undefined when it is none of these or not an exact integer.
 */
export function parseOffset(text: string): number | undefined {
  const trimmed = text.trim().replaceAll('_', '');
  const hex = /^0x([0-9a-f]+)$/i.exec(trimmed);
  if (hex) return exact(Number.parseInt(hex[1] as string, 16));
  const sized = /^(\d+)\s*([kmgtp]?)(?:i?b)?$/i.exec(trimmed);
  if (!sized) return undefined;
  const power = ' kmgtp'.indexOf((sized[2] as string).toLowerCase() || ' ');
  return exact(Number(sized[1]) * 1024 ** power);
}

function exact(value: number): number | undefined {
  return Number.isSafeInteger(value) ? value : undefined;
}
