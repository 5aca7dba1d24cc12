import { InvalidArgumentError, UnsafeOffsetError } from './errors.js';

/**
 * Sizes with qemu's suffixes, as QEMU 7.2's `qemu_strtosz` reads them for `qemu-img create`,
 * `qemu-io` and size options (`-o offset=1M`): an integer (decimal, or hex with `0x`), optionally a decimal fraction, and
 * one suffix of `B k M G T P E` (either case; powers of 1024, bytes without one). `10M` is
 * 10485760, `1.5k` is 1536, `0.5k` is 512; a fraction needs a suffix (`1.5` is refused,
 * `1.0` is 1), the scaled fraction rounds half up, and nothing may follow the suffix.
 *
 * One difference on purpose: QEMU 7.2 accepts a suffix on a hex number with a deprecation
 * warning (`0x10k`) and QEMU 8.0 refuses it; vdisk refuses it as 8.0 does.
 */

export type SizeParse =
  | { ok: true; value: bigint }
  /** `EINVAL`: not a size (qemu's "non-numeric argument, or extraneous/unrecognized suffix"); `ERANGE`: 2^64 or more. */
  | { ok: false; error: 'EINVAL' | 'ERANGE' };

const SUFFIXES: Record<string, bigint> = {
  b: 1n,
  k: 1n << 10n,
  m: 1n << 20n,
  g: 1n << 30n,
  t: 1n << 40n,
  p: 1n << 50n,
  e: 1n << 60n,
};

const TWO_64 = 1n << 64n;
const INVALID: SizeParse = { ok: false, error: 'EINVAL' };

export function strtosz(text: string): SizeParse {
  // strtoull: leading white space and one sign, then the digits. A minus sign is refused
  // (qemu checks for it: strtoull would negate).
  const integer = /^[ \t\n\v\f\r]*([+-]?)(\d+)/.exec(text);
  if (!integer) return INVALID;
  if (integer[1] === '-') return INVALID;
  let digits = integer[2] as string;
  let rest = text.slice(integer[0].length);
  let value = BigInt(digits);
  let fraction = 0n; // a 64-bit fixed-point fraction, as qemu's `valf`

  if (value === 0n && (rest[0] === 'x' || rest[0] === 'X')) {
    // Looks like hex: reparse as strtoull base 16 does, and insist on no fraction or suffix.
    const hex = /^[0-9a-fA-F]+/.exec(rest.slice(1));
    if (!hex || digits.length !== 1) return INVALID; // `0x` alone, `00x10`
    digits = hex[0];
    rest = rest.slice(1 + digits.length);
    value = BigInt(`0x${digits}`);
    if (rest !== '') return INVALID;
    return value >= TWO_64 ? { ok: false, error: 'ERANGE' } : { ok: true, value };
  }
  if (value >= TWO_64) {
    // strtoull's ERANGE, unless anything follows the digits (then qemu reports EINVAL).
    return rest === '' ? { ok: false, error: 'ERANGE' } : INVALID;
  }
  if (rest[0] === '.') {
    // strtod of ".DIGITS": correctly rounded, as JavaScript's Number() is. Without digits
    // strtod fails and qemu only skips the dot (`1.k` is 1024). An exponent refuses all.
    const decimals = /^\.(\d+)/.exec(rest);
    if (decimals) {
      rest = rest.slice(decimals[0].length);
      if (/^[eE][+-]?\d/.test(rest)) return INVALID;
      const double = Number(`0.${decimals[1]}`);
      // qemu's `(uint64_t)(fraction * 0x1p64)`: a fraction that rounds to 1.0 overflows the
      // conversion, which gives 0 on x86-64 (`0.99999999999999999k` is 0 there).
      fraction = double >= 1 ? 0n : exactScaledFraction(double);
    } else {
      rest = rest.slice(1);
    }
  }
  let multiplier = 1n;
  const suffix = SUFFIXES[(rest[0] ?? '').toLowerCase()];
  if (suffix !== undefined) {
    multiplier = suffix;
    rest = rest.slice(1);
  }
  if (rest !== '') return INVALID;
  if (multiplier === 1n) {
    return fraction === 0n ? { ok: true, value } : INVALID; // a fraction needs a scale
  }
  // 64.64 fixed point times the multiplier, the fraction's half rounded up.
  const scaledFraction = fraction * multiplier;
  const total = value * multiplier + (scaledFraction >> 64n) + ((scaledFraction >> 63n) & 1n);
  return total >= TWO_64 ? { ok: false, error: 'ERANGE' } : { ok: true, value: total };
}

/** floor(value * 2^64), exactly, for a double in [0, 1). */
function exactScaledFraction(value: number): bigint {
  if (value === 0) return 0n;
  // value = mantissa / 2^shift exactly: doubling a double is exact.
  let mantissa = value;
  let shift = 0;
  while (!Number.isInteger(mantissa)) {
    mantissa *= 2;
    shift++;
  }
  const exponent = 64 - shift;
  return exponent >= 0 ? BigInt(mantissa) << BigInt(exponent) : BigInt(mantissa) >> BigInt(-exponent);
}

/**
 * A size as a number of bytes, for options a driver reads (`-o offset=1M`): `strtosz`'s
 * syntax, exact. An unreadable size is an `InvalidArgumentError`; a size of 2^53 or more,
 * which a number cannot hold exactly, an `UnsafeOffsetError`, never a rounded number.
 */
export function parseSize(text: string): number {
  const parsed = strtosz(text);
  if (!parsed.ok && parsed.error === 'EINVAL') {
    throw new InvalidArgumentError(
      `Invalid size '${text}': expected bytes, with an optional suffix k, M, G, T, P or E`,
    );
  }
  if (!parsed.ok || parsed.value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new UnsafeOffsetError(`Size '${text}' is not below 2^53 bytes`);
  }
  return Number(parsed.value);
}
