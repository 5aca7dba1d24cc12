import { InvalidArgumentError, UnsafeOffsetError } from './errors.js';

/** QEMU's size suffixes (util/cutils.c suffix_mul): powers of 1024, case-insensitive. */
const SUFFIX_SHIFT: Record<string, bigint> = { b: 0n, k: 10n, m: 20n, g: 30n, t: 40n, p: 50n, e: 60n };

/**
 * A size as QEMU's qemu_strtosz reads it (`-o offset=1M`, `create FILE 10G`): a decimal
 * number of bytes with an optional suffix k, M, G, T, P or E (powers of 1024; B or b for
 * bytes), a fraction only with a suffix (`1.5k` is 1536, rounded half up to a whole byte),
 * or a hexadecimal `0x...` without either. Exact: a size of 2^53 or more, which a number
 * cannot hold exactly, is an `UnsafeOffsetError`; anything else unreadable is an
 * `InvalidArgumentError`.
 */
export function parseSize(text: string): number {
  const invalid = () =>
    new InvalidArgumentError(`Invalid size '${text}': expected bytes, with an optional suffix k, M, G, T, P or E`);
  let bytes: bigint;
  const hex = /^0[xX]([0-9a-fA-F]+)$/.exec(text);
  if (hex) {
    bytes = BigInt(`0x${hex[1]}`);
  } else {
    const match = /^(\d+)(?:\.(\d*))?([bBkKmMgGtTpPeE])?$/.exec(text);
    if (!match) throw invalid();
    const [, whole, fraction = '', suffix = 'b'] = match as unknown as [string, string, string?, string?];
    const shift = SUFFIX_SHIFT[suffix.toLowerCase()] as bigint;
    // "When a fraction is present, a scale is required" (QEMU): 1.5 is refused, 1.0 is 1.
    if (shift === 0n && /[1-9]/.test(fraction)) throw invalid();
    const scale = 10n ** BigInt(fraction.length);
    const numerator = (BigInt(whole) * scale + BigInt(fraction || '0')) << shift;
    bytes = (2n * numerator + scale) / (2n * scale); // round half up
  }
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new UnsafeOffsetError(`Size '${text}' is not below 2^53 bytes`);
  }
  return Number(bytes);
}
