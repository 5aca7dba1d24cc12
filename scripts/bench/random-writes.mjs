// Random 4 KiB writes through the vdisk library (not the CLI): opens IMAGE writable, writes
// COUNT seeded 4 KiB-aligned offsets at queue depth DEPTH, flushes once, and prints
// {"writes", "seconds"} as JSON. The time covers the writes and the final flush (what makes
// them durable), not Node's start-up or the open. On a Bochs image a write into an extent
// without a slot allocates one (slot written, barrier, catalog entry); writes in flight
// together share that barrier.
//   node scripts/bench/random-writes.mjs IMAGE COUNT SEED DEPTH

import { defaultRegistry } from '../../packages/cli/dist/default-registry.js';
import { openFile } from '../../packages/core/dist/node/index.js';
import { READ_SIZE, randomOffsets } from './offsets.mjs';

const [image, count, seed, depth] = process.argv.slice(2);
const device = await openFile(defaultRegistry(), image, { writable: true });
const offsets = randomOffsets(device.virtualSize, Number(count), Number(seed));
let next = 0;
const worker = async (id) => {
  const buffer = new Uint8Array(READ_SIZE).fill(id + 1);
  while (next < offsets.length) await device.write(offsets[next++], buffer);
};
const start = process.hrtime.bigint();
await Promise.all(Array.from({ length: Number(depth) }, (_, id) => worker(id)));
await device.flush();
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
await device.close();
process.stdout.write(`${JSON.stringify({ writes: offsets.length, seconds })}\n`);
