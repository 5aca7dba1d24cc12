import { runDriverConformance } from '@vdisk/conformance';
import { MemorySource } from '@vdisk/core';
import { ExampleDriver } from '../src/example-driver.js';
import { buildExampleImage } from '../src/testing.js';

/** A disk of `clusters` clusters with data in the listed ones (a pattern no cluster shares). */
function disk(clusters, withData) {
  const bytes = new Uint8Array(clusters * 4096);
  for (const c of withData) for (let i = 0; i < 4096; i++) bytes[c * 4096 + i] = ((c * 4096 + i) % 251) + 1;
  return bytes;
}

for (const [name, expected] of [
  ['empty', disk(8, [])],
  ['with holes', disk(16, [1, 2, 3, 9, 15])],
  ['all data', disk(4, [0, 1, 2, 3])],
]) {
  runDriverConformance({
    name: `example (${name})`,
    driver: new ExampleDriver(),
    makeImage: () => ({ source: new MemorySource(buildExampleImage(expected)), expected }),
  });
}
