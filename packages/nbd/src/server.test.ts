import { describe, expect, it } from 'vitest';
import { MemoryDevice } from './memory-device.fixture.js';
import { infoData, metaContextData, RawNbdClient } from './nbd-client.fixture.js';
import * as P from './protocol.js';
import { startServer } from './test-server.fixture.js';

const MiB = 1024 * 1024;

function patterned(size: number): MemoryDevice {
  const device = new MemoryDevice(size);
  for (let i = 0; i < size; i++) device.bytes[i] = (i * 7 + (i >> 9)) & 0xff;
  return device;
}

describe('handshake', () => {
  it('greets with fixed newstyle and NO_ZEROES, lists exports, and answers INFO with size, flags and block sizes', async () => {
    const device = new MemoryDevice(MiB, 512);
    const { client } = await startServer([
      { name: '', device },
      { name: 'second', device: new MemoryDevice(4096), readOnly: true, description: 'the other one' },
    ]);
    const c = await client();
    expect(await c.start()).toBe(P.FLAG_FIXED_NEWSTYLE | P.FLAG_NO_ZEROES);
    const list = await c.option(P.OPT_LIST);
    expect(list.map((r) => r.type)).toEqual([P.REP_SERVER, P.REP_SERVER, P.REP_ACK]);
    expect(list.slice(0, 2).map((r) => r.data.subarray(4).toString())).toEqual(['', 'second']);

    const info = await c.option(P.OPT_INFO, infoData('second', [P.INFO_NAME, P.INFO_DESCRIPTION, P.INFO_BLOCK_SIZE]));
    expect(info.map((r) => r.type)).toEqual([P.REP_INFO, P.REP_INFO, P.REP_INFO, P.REP_INFO, P.REP_ACK]);
    const [exportInfo, name, description, blockSize] = info.map((r) => r.data);
    expect(exportInfo?.readBigUInt64BE(2)).toBe(4096n);
    const flags = exportInfo?.readUInt16BE(10) ?? 0;
    expect(flags & P.TFLAG_READ_ONLY).toBe(P.TFLAG_READ_ONLY);
    expect(flags & (P.TFLAG_SEND_TRIM | P.TFLAG_SEND_WRITE_ZEROES | P.TFLAG_SEND_FUA)).toBe(0);
    expect(name?.subarray(2).toString()).toBe('second');
    expect(description?.subarray(2).toString()).toBe('the other one');
    expect([blockSize?.readUInt32BE(2), blockSize?.readUInt32BE(6), blockSize?.readUInt32BE(10)]).toEqual([
      512,
      4096,
      32 * MiB,
    ]);

    // INFO leaves the handshake going: GO picks the writable default export.
    const go = await c.handshakeRest();
    expect(go.flags & P.TFLAG_READ_ONLY).toBe(0);
    expect(go.flags & (P.TFLAG_SEND_TRIM | P.TFLAG_SEND_WRITE_ZEROES | P.TFLAG_SEND_FUA | P.TFLAG_SEND_FLUSH)).toBe(
      P.TFLAG_SEND_TRIM | P.TFLAG_SEND_WRITE_ZEROES | P.TFLAG_SEND_FUA | P.TFLAG_SEND_FLUSH,
    );
    expect(go.size).toBe(BigInt(MiB));
  });

  it('answers the old EXPORT_NAME option with the size and flags, with or without the 124 zeros', async () => {
    const { client } = await startServer([{ name: 'x', device: new MemoryDevice(8192) }]);
    for (const [flags, length] of [
      [P.CLIENT_FIXED_NEWSTYLE | P.CLIENT_NO_ZEROES, 10],
      [P.CLIENT_FIXED_NEWSTYLE, 134],
    ] as const) {
      const c = await client();
      await c.start(flags);
      c.sendOption(P.OPT_EXPORT_NAME, Buffer.from('x'));
      const reply = await c.reader.read(length);
      expect(reply.readBigUInt64BE(0)).toBe(8192n);
      expect(reply.readUInt16BE(8) & P.TFLAG_HAS_FLAGS).toBe(P.TFLAG_HAS_FLAGS);
      c.request(P.CMD_READ, 0, 512);
      const read = await c.reply(512);
      expect(read).toMatchObject({ kind: 'simple', error: 0 });
    }
  });

  it('selects base:allocation only after STRUCTURED_REPLY, and lists it', async () => {
    const { client } = await startServer([{ name: '', device: new MemoryDevice(8192) }]);
    const c = await client();
    await c.start();
    expect((await c.option(P.OPT_SET_META_CONTEXT, metaContextData('', [P.BASE_ALLOCATION])))[0]?.type).toBe(
      P.REP_ERR_INVALID,
    );
    expect((await c.option(P.OPT_STRUCTURED_REPLY))[0]?.type).toBe(P.REP_ACK);
    const listed = await c.option(P.OPT_LIST_META_CONTEXT, metaContextData('', []));
    expect(listed.map((r) => r.type)).toEqual([P.REP_META_CONTEXT, P.REP_ACK]);
    expect(listed[0]?.data.subarray(4).toString()).toBe('base:allocation');
    const none = await c.option(P.OPT_SET_META_CONTEXT, metaContextData('', ['qemu:dirty-bitmap:x']));
    expect(none.map((r) => r.type)).toEqual([P.REP_ACK]);
    const set = await c.option(P.OPT_SET_META_CONTEXT, metaContextData('', ['x:y', P.BASE_ALLOCATION]));
    expect(set.map((r) => r.type)).toEqual([P.REP_META_CONTEXT, P.REP_ACK]);
    expect(set[0]?.data.readUInt32BE(0)).not.toBe(0);
  });

  it('ABORT is acknowledged and the connection closed', async () => {
    const { client, log } = await startServer([{ name: '', device: new MemoryDevice(8192) }]);
    const c = await client();
    await c.start();
    expect((await c.option(P.OPT_ABORT))[0]?.type).toBe(P.REP_ACK);
    await c.closed();
    await expect.poll(() => log.join('\n')).toContain('aborted the handshake');
  });
});

describe('transmission', () => {
  it('reads with simple replies, and with structured ones where holes are OFFSET_HOLE chunks', async () => {
    const device = patterned(64 * 1024);
    device.allocated.set([1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    const { client } = await startServer([{ name: '', device }]);

    const simple = await client();
    await simple.handshake({ structured: false, blockSize: false }); // unaligned requests allowed then
    simple.request(P.CMD_READ, 1000, 5000);
    const reply = await simple.reply(5000);
    expect(reply.kind === 'simple' && reply.data).toEqual(Buffer.from(device.bytes.subarray(1000, 6000)));

    const structured = await client();
    await structured.handshake();
    structured.request(P.CMD_READ, 2048, 4 * 4096);
    const chunks = await structured.chunks();
    expect(chunks.map((c) => c.type)).toEqual([
      P.REPLY_TYPE_OFFSET_DATA,
      P.REPLY_TYPE_OFFSET_HOLE,
      P.REPLY_TYPE_OFFSET_DATA,
      P.REPLY_TYPE_OFFSET_HOLE,
    ]);
    // OFFSET_DATA: u64 offset, bytes. OFFSET_HOLE: u64 offset, u32 length.
    expect(chunks[0]?.payload.readBigUInt64BE(0)).toBe(2048n);
    expect(chunks[0]?.payload.subarray(8)).toEqual(Buffer.from(device.bytes.subarray(2048, 4096)));
    expect([chunks[1]?.payload.readBigUInt64BE(0), chunks[1]?.payload.readUInt32BE(8)]).toEqual([4096n, 4096]);
    expect(chunks[2]?.payload.subarray(8)).toEqual(Buffer.from(device.bytes.subarray(8192, 16384)));
    expect([chunks[3]?.payload.readBigUInt64BE(0), chunks[3]?.payload.readUInt32BE(8)]).toEqual([16384n, 2048]);
    expect(chunks.map((c) => c.flags & P.REPLY_FLAG_DONE)).toEqual([0, 0, 0, 1]);

    // Length 0: a NONE chunk (OFFSET_DATA carries at least a byte); simple: no data.
    structured.request(P.CMD_READ, 4096, 0);
    expect((await structured.chunks()).map((c) => [c.type, c.flags])).toEqual([[P.REPLY_TYPE_NONE, P.REPLY_FLAG_DONE]]);
    simple.request(P.CMD_READ, 4096, 0);
    expect(await simple.reply()).toMatchObject({ kind: 'simple', error: 0, data: undefined });

    // DF: one OFFSET_DATA chunk, holes included.
    structured.request(P.CMD_READ, 2048, 4 * 4096, P.CMD_FLAG_DF);
    const whole = await structured.chunks();
    expect(whole.map((c) => c.type)).toEqual([P.REPLY_TYPE_OFFSET_DATA]);
    expect(whole[0]?.payload.subarray(8)).toEqual(Buffer.from(device.bytes.subarray(2048, 2048 + 4 * 4096)));
  });

  it('BLOCK_STATUS gives base:allocation descriptors, and one no longer than the request with REQ_ONE', async () => {
    const device = new MemoryDevice(64 * 1024);
    device.allocated.set([0, 0, 1, 1, 1, 0]);
    const { client } = await startServer([{ name: '', device }]);
    const c = await client();
    await c.handshake();
    c.request(P.CMD_BLOCK_STATUS, 0, 64 * 1024);
    const [all] = await c.chunks();
    expect(all?.type).toBe(P.REPLY_TYPE_BLOCK_STATUS);
    expect(descriptors(all?.payload)).toEqual([
      [8192, P.STATE_HOLE | P.STATE_ZERO],
      [12288, 0],
      [45056, P.STATE_HOLE | P.STATE_ZERO],
    ]);
    c.request(P.CMD_BLOCK_STATUS, 9216, 2048, P.CMD_FLAG_REQ_ONE);
    expect(descriptors((await c.chunks())[0]?.payload)).toEqual([[2048, 0]]);
    c.request(P.CMD_BLOCK_STATUS, 512, 64 * 1024 - 512, P.CMD_FLAG_REQ_ONE);
    expect(descriptors((await c.chunks())[0]?.payload)).toEqual([[7680, P.STATE_HOLE | P.STATE_ZERO]]);
  });

  it('writes (FUA flushes), zeroes, trims and flushes through the device', async () => {
    const device = new MemoryDevice(64 * 1024);
    const { client } = await startServer([{ name: '', device }]);
    const c = await client();
    await c.handshake({ structured: false });
    const data = Buffer.alloc(8192, 0xab);
    c.request(P.CMD_WRITE, 4096, 8192, P.CMD_FLAG_FUA, data);
    expect(await c.reply()).toMatchObject({ kind: 'simple', error: 0 });
    expect(Buffer.from(device.bytes.subarray(4096, 12288))).toEqual(data);
    expect(device.flushes).toBe(0); // FUA is the device's to honour (BlockDevice.write's option)
    c.request(P.CMD_WRITE_ZEROES, 4096, 4096, P.CMD_FLAG_FUA);
    expect(await c.reply()).toMatchObject({ error: 0 });
    expect(device.bytes.subarray(4096, 8192).every((b) => b === 0)).toBe(true);
    expect(device.flushes).toBe(1);
    c.request(P.CMD_TRIM, 8192, 4096);
    expect(await c.reply()).toMatchObject({ error: 0 });
    expect(device.bytes.subarray(8192, 12288).every((b) => b === 0)).toBe(true);
    c.request(P.CMD_FLUSH, 0, 0);
    expect(await c.reply()).toMatchObject({ error: 0 });
    expect(device.flushes).toBe(2);
  });

  it('serves many clients at once, each concurrently', async () => {
    const device = patterned(4 * MiB);
    const { client } = await startServer([{ name: '', device }]);
    const clients = await Promise.all(Array.from({ length: 8 }, () => client()));
    await Promise.all(clients.map((c) => c.handshake()));
    let release!: () => void;
    device.gate = new Promise((resolve) => {
      release = resolve;
    });
    for (const [i, c] of clients.entries())
      for (let j = 0; j < 4; j++) c.request(P.CMD_READ, (i * 4 + j) * 4096, 4096, P.CMD_FLAG_DF);
    await expect.poll(() => device.inFlight).toBe(32); // every request of every client at the device at once
    release();
    for (const [i, c] of clients.entries()) {
      const seen = new Set<bigint>();
      for (let j = 0; j < 4; j++) {
        const [chunk] = await c.chunks();
        seen.add(chunk?.cookie ?? 0n);
        const offset = Number(chunk?.payload.readBigUInt64BE(0));
        expect(chunk?.payload.subarray(8)).toEqual(Buffer.from(device.bytes.subarray(offset, offset + 4096)));
        expect(Math.floor(offset / 4096 / 4)).toBe(i);
      }
      expect(seen.size).toBe(4);
    }
  });

  it('DISC closes the connection after the requests in flight are answered', async () => {
    const device = patterned(MiB);
    const { client, log } = await startServer([{ name: '', device }]);
    const c = await client();
    await c.handshake({ structured: false });
    let release!: () => void;
    device.gate = new Promise((resolve) => {
      release = resolve;
    });
    c.request(P.CMD_WRITE, 0, 4096, 0, Buffer.alloc(4096, 1));
    c.request(P.CMD_DISC, 0, 0);
    await expect.poll(() => device.inFlight).toBe(1);
    release();
    expect(await c.reply()).toMatchObject({ error: 0 });
    await c.closed();
    expect(device.bytes[0]).toBe(1);
    await expect
      .poll(() => log.join('\n'))
      .toMatch(/connection 1 from unix socket: export "" read-write, 2 requests.*DISC/);
  });

  it('close() lets a write in flight finish and be answered before the socket closes', async () => {
    const device = new MemoryDevice(MiB);
    const { client, server } = await startServer([{ name: '', device }]);
    const c = await client();
    await c.handshake({ structured: false });
    let release!: () => void;
    device.gate = new Promise((resolve) => {
      release = resolve;
    });
    c.request(P.CMD_WRITE, 0, 4096, P.CMD_FLAG_FUA, Buffer.alloc(4096, 9));
    await expect.poll(() => device.inFlight).toBe(1);
    const closing = server.close();
    setTimeout(release, 50);
    expect(await c.reply()).toMatchObject({ kind: 'simple', error: 0 });
    await closing;
    await c.closed();
    expect(device.bytes[4095]).toBe(9);
    expect(server.connections).toBe(0);
  });
});

function descriptors(payload: Buffer | undefined): [number, number][] {
  if (!payload) return [];
  expect(payload.readUInt32BE(0)).not.toBe(0);
  const result: [number, number][] = [];
  for (let at = 4; at < payload.length; at += 8) result.push([payload.readUInt32BE(at), payload.readUInt32BE(at + 4)]);
  return result;
}

// `handshakeRest`: GO after options sent by hand.
declare module './nbd-client.fixture.js' {
  interface RawNbdClient {
    handshakeRest(): Promise<{ size: bigint; flags: number }>;
  }
}
RawNbdClient.prototype.handshakeRest = async function (this: RawNbdClient) {
  const replies = await this.option(P.OPT_GO, infoData('', []));
  const info = replies.find((r) => r.type === P.REP_INFO && r.data.readUInt16BE(0) === P.INFO_EXPORT);
  return { size: info?.data.readBigUInt64BE(2) ?? 0n, flags: info?.data.readUInt16BE(10) ?? 0 };
};

describe('an export over a backing image', () => {
  it('reports and reads what the top image does not hold from its parent: base data is data, not a hole', async () => {
    const base = patterned(64 * 1024);
    base.allocated.set([1, 1, 1, 1, 0, 0, 0, 0, 1, 1]);
    const top = new MemoryDevice(64 * 1024);
    top.allocated.set([0, 1]);
    top.bytes.fill(0xee, 4096, 8192);
    // Reads through to the base where the top holds nothing (what core's backing chain does).
    const overlay = Object.assign(top, {
      backing: { device: base },
      readInto: async (buffer: Uint8Array, offset: number) => {
        for (let at = 0; at < buffer.length; at++) {
          const unit = Math.floor((offset + at) / 4096);
          buffer[at] = (top.allocated[unit] ? top.bytes : base.bytes)[offset + at] as number;
        }
      },
    });
    const { client } = await startServer([{ name: '', device: overlay }]);
    const c = await client();
    await c.handshake();
    c.request(P.CMD_BLOCK_STATUS, 0, 64 * 1024);
    expect(descriptors((await c.chunks())[0]?.payload)).toEqual([
      [16384, 0],
      [16384, P.STATE_HOLE | P.STATE_ZERO],
      [8192, 0],
      [24576, P.STATE_HOLE | P.STATE_ZERO],
    ]);
    c.request(P.CMD_READ, 0, 64 * 1024);
    const chunks = await c.chunks();
    const bytes = Buffer.alloc(64 * 1024);
    for (const chunk of chunks) {
      if (chunk.type === P.REPLY_TYPE_OFFSET_DATA)
        chunk.payload.subarray(8).copy(bytes, Number(chunk.payload.readBigUInt64BE(0)));
    }
    const expected = Buffer.from(base.bytes);
    expected.fill(0, 16384, 32768);
    expected.fill(0, 40960);
    expected.fill(0xee, 4096, 8192);
    expect(bytes.equals(expected)).toBe(true);
    expect(chunks.map((chunk) => chunk.type)).toEqual([
      P.REPLY_TYPE_OFFSET_DATA,
      P.REPLY_TYPE_OFFSET_HOLE,
      P.REPLY_TYPE_OFFSET_DATA,
      P.REPLY_TYPE_OFFSET_HOLE,
    ]);
  });
});
