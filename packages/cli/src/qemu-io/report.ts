import { formatFixed, formatFixedPadded } from '../printf-fixed.js';

/**
 * The lines qemu-io 7.2 prints after a read, write or discard (qemu-io-cmds.c's
 * print_report, cvtstr and timestr), measured against the real qemu-io:
 *
 *     wrote 4096/4096 bytes at offset 0
 *     4 KiB, 1 ops; 00.00 sec (3.433 MiB/sec and 878.7616 ops/sec)
 *
 * and with `-C` one parsable line: `4096,1,0:00:00.00,58690.612,14672.653`.
 */
export function reportLines(
  operation: 'read' | 'wrote' | 'discard',
  offset: bigint | number,
  count: number,
  seconds: number,
  parsable = false,
): string {
  const time = timeString(seconds, parsable);
  if (parsable) {
    return `${count},1,${time},${formatFixed(count / seconds, 3)},${formatFixed(1 / seconds, 3)}\n`;
  }
  return (
    `${operation} ${count}/${count} bytes at offset ${offset}\n` +
    `${sizeString(count)}, 1 ops; ${time} (${sizeString(count / seconds)}/sec and ${formatFixed(1 / seconds, 4)} ops/sec)\n`
  );
}

const UNITS: [number, string][] = [
  [2 ** 60, 'EiB'],
  [2 ** 50, 'PiB'],
  [2 ** 40, 'TiB'],
  [2 ** 30, 'GiB'],
  [2 ** 20, 'MiB'],
  [2 ** 10, 'KiB'],
];

/**
 * qemu-io's cvtstr: `%.3f` of the largest unit the value reaches, `%f` bytes below 1 KiB, and
 * the first `.000` cut off (`4 KiB`, `1.500 KiB`, `16 bytes`, `1023.999 KiB`).
 */
export function sizeString(value: number): string {
  const unit = UNITS.find(([scale]) => value >= scale);
  const [number, suffix] = unit ? [formatFixed(value / unit[0], 3), unit[1]] : [formatFixed(value, 6), 'bytes'];
  const trim = number.indexOf('.000');
  return `${trim >= 0 ? number.slice(0, trim) : number} ${suffix}`;
}

/**
 * qemu-io 7.2's timestr: `00.39 sec` under a second, `0:00:03.39` from one second on, and
 * always the long form for `-C`.
 */
export function timeString(seconds: number, parsable = false): string {
  const whole = Math.floor(seconds);
  const fraction = seconds - whole;
  if (!parsable && whole === 0) return `${formatFixedPadded(fraction, 5, 2)} sec`;
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  return `${hours}:${String(minutes).padStart(2, '0')}:${formatFixedPadded((whole % 60) + fraction, 5, 2)}`;
}

/** Sixteen bytes a line, as qemu-io's dump_buffer: `00000ffa:  ab ab ...  ..ab` with the absolute offset. */
export function dumpLines(bytes: Uint8Array, offset: bigint | number): string {
  let text = '';
  for (let i = 0; i < bytes.length; i += 16) {
    const line = bytes.subarray(i, i + 16);
    let hex = '';
    let chars = '';
    for (const byte of line) {
      hex += `${byte.toString(16).padStart(2, '0')} `;
      chars += isAlphanumeric(byte) ? String.fromCharCode(byte) : '.';
    }
    text += `${(BigInt(offset) + BigInt(i)).toString(16).padStart(8, '0')}:  ${hex} ${chars}\n`;
  }
  return text;
}

/** C's isalnum in the C locale. */
function isAlphanumeric(byte: number): boolean {
  return (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a);
}
