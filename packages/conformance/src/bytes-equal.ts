/**
 * Throws unless `actual` equals `expected`, naming the first differing byte: a diff of two
 * megabyte arrays helps nobody.
 */
export function assertBytesEqual(actual: Uint8Array, expected: Uint8Array, what: string): void {
  if (actual.length !== expected.length) {
    throw new Error(`${what}: ${actual.length} bytes, expected ${expected.length}`);
  }
  if (Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(expected)) return;
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) {
      throw new Error(`${what}: byte ${i} is ${actual[i]}, expected ${expected[i]}`);
    }
  }
}
