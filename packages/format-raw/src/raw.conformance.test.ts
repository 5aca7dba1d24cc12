import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDriverConformance } from '@vdisk/conformance';
import { MemorySource } from '@vdisk/core';
import { FileSource } from '@vdisk/core/node';
import { afterAll } from 'vitest';
import { RawDriver } from './raw-driver.js';

function file(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + 7) % 256;
  return bytes;
}

// Exact to the byte: a size that is not a multiple of 512 stays as it is.
runDriverConformance({
  name: 'raw, 100003 bytes',
  driver: new RawDriver(),
  makeImage: () => {
    const bytes = file(100003);
    const source = new MemorySource(bytes);
    return { source, expected: bytes.slice(), reopen: () => new MemorySource(source.bytes) };
  },
});

runDriverConformance({
  name: 'raw with offset and size',
  driver: new RawDriver(),
  makeImage: () => {
    const bytes = file(300000);
    const source = new MemorySource(bytes);
    return {
      source,
      options: { offset: '1001', size: '204800' },
      expected: bytes.slice(1001, 1001 + 204800),
      reopen: () => new MemorySource(source.bytes),
    };
  },
});

runDriverConformance({
  name: 'raw, empty',
  driver: new RawDriver(),
  makeImage: () => ({ source: new MemorySource(new Uint8Array(0)), expected: new Uint8Array(0) }),
});

// From a real file, opened writable: concurrent reads and writes overlap in the kernel, and
// the flush check reopens the file to find its writes there.
const dir = mkdtempSync(join(tmpdir(), 'vdisk-raw-conformance-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
runDriverConformance({
  name: 'raw, from a file',
  driver: new RawDriver(),
  makeImage: async () => {
    const bytes = file(200001);
    const path = join(dir, 'disk.raw');
    writeFileSync(path, bytes);
    return {
      source: await FileSource.open(path, { writable: true }),
      expected: bytes,
      reopen: () => FileSource.open(path),
    };
  },
});
