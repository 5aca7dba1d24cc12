/**
 * Load: 16 clients at once for 30 seconds (VDISK_NBD_LOAD_SECONDS; `pnpm soak:nbd` runs
 * ten minutes) of random reads, writes, zeroes and trims on one served Bochs image. Every
 * read is checked against a model of the writes while the load runs, and afterwards the
 * image checks clean and holds exactly the model. Each client owns one sixteenth of the
 * disk, so the model is exact although the clients race each other in the server.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RawNbdClient } from '../../../nbd/src/nbd-client.fixture.js';
import * as P from '../../../nbd/src/protocol.js';
import { describeNbdInterop, serve } from './nbd-peers.js';
import { bximageCreate, makeScratchDir, removeScratchDir, vdisk, vdiskOk } from './peers.js';

const SECONDS = Number(process.env.VDISK_NBD_LOAD_SECONDS ?? 30);
const CLIENTS = 16;
const SIZE = 20643840; // bximage -hd=20M: 40 cylinders of 16*63 sectors
const REGION = Math.floor(SIZE / CLIENTS / 512) * 512;

/** mulberry32: a small seeded generator, so a failing run can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One structured reply, all its chunks, as the bytes a READ returned (or its error). */
async function readReply(client: RawNbdClient, offset: number, length: number): Promise<Buffer> {
  const bytes = Buffer.alloc(length);
  for (const chunk of await client.chunks()) {
    if (chunk.type === P.REPLY_TYPE_ERROR) throw new Error(`read failed: error ${chunk.payload.readUInt32BE(0)}`);
    if (chunk.type === P.REPLY_TYPE_OFFSET_DATA) {
      chunk.payload.subarray(8).copy(bytes, Number(chunk.payload.readBigUInt64BE(0)) - offset);
    }
    // OFFSET_HOLE: zeros, as the buffer already is.
  }
  return bytes;
}

async function simpleOk(client: RawNbdClient, what: string): Promise<void> {
  const reply = await client.reply();
  const error = RawNbdClient.errorOf(reply);
  if (error !== 0) throw new Error(`${what} failed: error ${error}`);
}

describeNbdInterop(`vdisk serve under load: ${CLIENTS} clients for ${SECONDS} s`, () => {
  let dir: string;
  beforeAll(async () => {
    dir = await makeScratchDir();
  });
  afterAll(() => removeScratchDir(dir));

  it('serves random reads and writes without an error, and the image ends as the model of the writes', async () => {
    const image = join(dir, 'load.bochs');
    await bximageCreate(image, '20M');
    const socket = join(dir, 'load.sock');
    const served = await serve(['-f', 'bochs', '--socket', socket, image]);
    const model = Buffer.alloc(SIZE);
    const deadline = Date.now() + SECONDS * 1000;
    const counts = { read: 0, write: 0, zero: 0, trim: 0, flush: 0 };

    const runClient = async (index: number): Promise<void> => {
      const next = random(1000 + index);
      const client = await RawNbdClient.connect(socket);
      await client.handshake();
      const base = index * REGION;
      const range = (): [number, number] => {
        const sectors = REGION / 512;
        const length = (1 + Math.floor(next() * Math.min(256, sectors))) * 512;
        const offset = base + Math.floor(next() * (sectors - length / 512 + 1)) * 512;
        return [offset, length];
      };
      while (Date.now() < deadline) {
        const op = next();
        const [offset, length] = range();
        if (op < 0.45) {
          const data = Buffer.alloc(length);
          for (let i = 0; i < length; i += 4) data.writeUInt32LE(Math.floor(next() * 2 ** 32), i);
          client.request(P.CMD_WRITE, offset, length, next() < 0.1 ? P.CMD_FLAG_FUA : 0, data);
          await simpleOk(client, 'write');
          data.copy(model, offset);
          counts.write += 1;
        } else if (op < 0.85) {
          client.request(P.CMD_READ, offset, length);
          const bytes = await readReply(client, offset, length);
          if (!bytes.equals(model.subarray(offset, offset + length))) {
            throw new Error(`client ${index}: read of ${length} bytes at ${offset} differs from the model`);
          }
          counts.read += 1;
        } else if (op < 0.92) {
          client.request(P.CMD_WRITE_ZEROES, offset, length, next() < 0.5 ? P.CMD_FLAG_NO_HOLE : 0);
          await simpleOk(client, 'write zeroes');
          model.fill(0, offset, offset + length);
          counts.zero += 1;
        } else if (op < 0.98) {
          client.request(P.CMD_TRIM, offset, length);
          await simpleOk(client, 'trim');
          model.fill(0, offset, offset + length); // vdisk's rule: a trimmed range reads as zeros
          counts.trim += 1;
        } else {
          client.request(P.CMD_FLUSH, 0, 0);
          await simpleOk(client, 'flush');
          counts.flush += 1;
        }
      }
      client.request(P.CMD_DISC, 0, 0);
      await client.closed();
    };

    const results = await Promise.allSettled(Array.from({ length: CLIENTS }, (_, i) => runClient(i)));
    const { code, stderr } = await served.stop();
    for (const result of results) if (result.status === 'rejected') throw result.reason;
    expect(code).toBe(0);
    expect(stderr.match(/^vdisk: connection \d+ .*disconnected \(DISC\)$/gm)?.length).toBe(CLIENTS);
    // The load did run: thousands of requests of each kind, not a handful.
    expect(counts.write).toBeGreaterThan((100 * SECONDS) / 30);
    expect(counts.read).toBeGreaterThan((100 * SECONDS) / 30);

    const check = await vdisk('check', '-f', 'bochs', image);
    expect(check.stdout).toContain('No errors were found on the image.');
    const contents = join(dir, 'load.raw');
    await vdiskOk('convert', '-f', 'bochs', '-O', 'raw', image, contents);
    expect((await readFile(contents)).equals(model)).toBe(true);
    console.info(`[load] ${SECONDS} s, ${CLIENTS} clients: ${JSON.stringify(counts)}`);
  });
});
