/**
 * printf's `%.Nf` as glibc prints it: the exact binary value of the double rounded to N
 * decimals, ties to even. JavaScript's toFixed rounds ties up (`(1.0625).toFixed(3)` is
 * `1.063` where C gives `1.062`), and qemu-io's lines, where 1088 bytes are `1.062 KiB`, are
 * matched to the byte.
 */
export function formatFixed(value: number, decimals: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (value === Number.POSITIVE_INFINITY) return 'inf';
  if (value === Number.NEGATIVE_INFINITY) return '-inf';
  const negative = value < 0 || Object.is(value, -0);
  let mantissa = Math.abs(value);
  // |value| = mantissa / 2^shift exactly: doubling a double is exact.
  let shift = 0;
  while (!Number.isInteger(mantissa)) {
    mantissa *= 2;
    shift++;
  }
  const numerator = BigInt(mantissa) * 10n ** BigInt(decimals);
  const denominator = 1n << BigInt(shift);
  let digits = numerator / denominator;
  const twiceRest = 2n * (numerator % denominator);
  if (twiceRest > denominator || (twiceRest === denominator && digits % 2n === 1n)) digits++;
  const text = digits.toString().padStart(decimals + 1, '0');
  const whole = text.slice(0, text.length - decimals);
  const fraction = decimals > 0 ? `.${text.slice(text.length - decimals)}` : '';
  return `${negative ? '-' : ''}${whole}${fraction}`;
}

/** `%0W.Nf`: zero-padded on the left to `width` characters. */
export function formatFixedPadded(value: number, width: number, decimals: number): string {
  return formatFixed(value, decimals).padStart(width, '0');
}
