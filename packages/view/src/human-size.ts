const SUFFIXES = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

/**
 * QEMU's size_to_str: three significant digits of the largest binary unit that keeps the
 * number below 1000 (`%0.3g %sB`), e.g. `10 MiB`, `5.48 MiB`, `0.977 MiB`, and, as glibc's
 * printf gives them, `1.12 MiB` for exactly 1.125 MiB and `1e+03 KiB` for 999.5 KiB.
 */
export function humanSize(bytes: number): string {
  // frexp(val / (1000.0 / 1024.0), &i): the exponent i with scaled in [2^(i-1), 2^i).
  const scaled = bytes / (1000 / 1024);
  const exponent = scaled > 0 && Number.isFinite(scaled) ? binaryExponent(scaled) + 1 : 0;
  // QEMU's `(i - 1) / 10` truncates toward zero: never below unit 0.
  const unit = Math.max(0, Math.min(SUFFIXES.length - 1, Math.trunc((exponent - 1) / 10)));
  return `${formatG3(bytes / 2 ** (unit * 10))} ${SUFFIXES[unit]}B`;
}

/** floor(log2(value)) exactly, for a positive finite value (Math.log2 alone may round up near a power of 2). */
function binaryExponent(value: number): number {
  let e = Math.floor(Math.log2(value));
  if (2 ** e > value) e--;
  if (2 ** (e + 1) <= value) e++;
  return e;
}

const PRECISION = 3;

/**
 * printf's `%0.3g` as glibc prints it: the exact binary value of the double rounded to three
 * significant digits, ties to even (JavaScript's toPrecision rounds ties up: 1.125 gives
 * `1.13` where C gives `1.12`), trailing zeros dropped, and the exponential form when the
 * rounded exponent is below -4 or at least 3 (999.5 gives `1e+03`).
 */
export function formatG3(value: number): string {
  if (!Number.isFinite(value) || value < 0) return String(value);
  if (value === 0) return '0';
  // value = numerator / 2^shift exactly: doubling a double is exact.
  let mantissa = value;
  let shift = 0;
  while (!Number.isInteger(mantissa)) {
    mantissa *= 2;
    shift++;
  }
  const numerator = BigInt(mantissa);
  const denominator = 2n ** BigInt(shift);

  // The decimal exponent: 10^x <= value < 10^(x+1), compared exactly.
  const atLeastPow10 = (x: number) =>
    x >= 0 ? numerator >= 10n ** BigInt(x) * denominator : numerator * 10n ** BigInt(-x) >= denominator;
  let x = Math.floor(Math.log10(value));
  while (!atLeastPow10(x)) x--;
  while (atLeastPow10(x + 1)) x++;

  // digits = value / 10^(x - 2), rounded to an integer of three digits, half to even.
  const up = PRECISION - 1 - x;
  const scaledNumerator = up >= 0 ? numerator * 10n ** BigInt(up) : numerator;
  const scaledDenominator = up >= 0 ? denominator : denominator * 10n ** BigInt(-up);
  let digits = scaledNumerator / scaledDenominator;
  const twiceRest = 2n * (scaledNumerator % scaledDenominator);
  if (twiceRest > scaledDenominator || (twiceRest === scaledDenominator && digits % 2n === 1n)) digits++;
  if (digits === 10n ** BigInt(PRECISION)) {
    digits /= 10n;
    x++;
  }

  const text = digits.toString();
  if (x < -4 || x >= PRECISION) {
    const fraction = text.slice(1).replace(/0+$/, '');
    const sign = x < 0 ? '-' : '+';
    return `${text[0]}${fraction ? `.${fraction}` : ''}e${sign}${String(Math.abs(x)).padStart(2, '0')}`;
  }
  const decimals = PRECISION - 1 - x;
  if (decimals === 0) return text;
  const padded = text.padStart(decimals + 1, '0');
  const whole = padded.slice(0, padded.length - decimals);
  const fraction = padded.slice(padded.length - decimals).replace(/0+$/, '');
  return fraction ? `${whole}.${fraction}` : whole;
}
