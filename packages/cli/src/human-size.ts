const SUFFIXES = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

/**
 * QEMU's size_to_str: three significant digits of the largest binary unit that keeps the
 * number below 1000 (`%0.3g %sB`), e.g. `10 MiB`, `5.48 MiB`, `0.984 MiB`.
 */
export function humanSize(bytes: number): string {
  // frexp(val / (1000.0 / 1024.0)) gives the exponent e with val*1.024 in [2^(e-1), 2^e).
  const scaled = bytes / (1000 / 1024);
  const exponent = scaled === 0 ? 0 : Math.floor(Math.log2(scaled)) + 1;
  const unit = Math.max(0, Math.min(SUFFIXES.length - 1, Math.floor((exponent - 1) / 10)));
  return `${formatG3(bytes / 2 ** (unit * 10))} ${SUFFIXES[unit]}B`;
}

/** printf's `%0.3g` for values in [0, 1000). */
function formatG3(value: number): string {
  return String(Number(value.toPrecision(3)));
}
