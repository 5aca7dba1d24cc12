// Random 4 KiB reads straight from node:fs (fs.read with a callback, the cheapest call
// Node has), no vdisk at all: the platform's own ceiling for random-reads.mjs, on the same
// offsets of FILE (the raw input), at queue depth DEPTH. Prints {"reads", "seconds"}.
// What the library reaches at depth 16 over depth 1 is judged against what Node itself
// reaches on this machine: on 2 cores, libuv's 4 pool threads contend. With CALLS 2, each
// read also reads 512 bytes 4 KiB before it, concurrently: the two calls a Bochs read makes
// the first time it meets an extent (its bitmap, then its data).
//   node scripts/bench/node-reads.mjs FILE COUNT SEED DEPTH [CALLS]

import { fstatSync, openSync, read } from 'node:fs';
import { READ_SIZE, randomOffsets } from './offsets.mjs';

const [file, count, seed, depth, calls = '1'] = process.argv.slice(2);
const fd = openSync(file, 'r');
const offsets = randomOffsets(fstatSync(fd).size, Number(count), Number(seed));
const readAt = (buffer, position) =>
  new Promise((resolve, reject) =>
    read(fd, buffer, 0, buffer.length, position, (error) => (error ? reject(error) : resolve())),
  );
let next = 0;
const worker = async () => {
  const buffer = new Uint8Array(READ_SIZE);
  const bitmap = new Uint8Array(512);
  while (next < offsets.length) {
    const offset = offsets[next++];
    if (calls === '2') await Promise.all([readAt(bitmap, Math.max(0, offset - READ_SIZE)), readAt(buffer, offset)]);
    else await readAt(buffer, offset);
  }
};
const start = process.hrtime.bigint();
await Promise.all(Array.from({ length: Number(depth) }, worker));
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
process.stdout.write(`${JSON.stringify({ reads: offsets.length, seconds })}\n`);
