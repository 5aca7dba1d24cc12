// Random 4 KiB reads through the vdisk library (not the CLI): opens IMAGE, reads COUNT
// seeded offsets at queue depth DEPTH, and prints {"reads", "seconds"} as JSON. The time
// covers the reads only, not Node's start-up or the open.
//   node scripts/bench/random-reads.mjs IMAGE COUNT SEED DEPTH

import { defaultRegistry } from '../../packages/cli/dist/default-registry.js';
import { openFile } from '../../packages/core/dist/node/index.js';
import { READ_SIZE, randomOffsets } from './offsets.mjs';

const [image, count, seed, depth] = process.argv.slice(2);
const device = await openFile(defaultRegistry(), image);
const offsets = randomOffsets(device.virtualSize, Number(count), Number(seed));
let next = 0;
const worker = async () => {
  const buffer = new Uint8Array(READ_SIZE);
  while (next < offsets.length) await device.readInto(buffer, offsets[next++]);
};
const start = process.hrtime.bigint();
await Promise.all(Array.from({ length: Number(depth) }, worker));
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
await device.close();
process.stdout.write(`${JSON.stringify({ reads: offsets.length, seconds })}\n`);
