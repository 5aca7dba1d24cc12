/**
 * Clients that break the protocol, on purpose. For each: the client gets the error the
 * protocol names or is disconnected, the server allocates nothing sized by the client's
 * fields, and the other clients keep working.
 */
import { describe, expect, it } from 'vitest';
import { MemoryDevice } from './memory-device.fixture.js';
import { infoData, metaContextData, RawNbdClient, u32, u64 } from './nbd-client.fixture.js';
import * as P from './protocol.js';
import { startServer, type TestServer } from './test-server.fixture.js';

const MiB = 1024 * 1024;

/** A well-behaved client still reads the right bytes: the server survived. */
async function stillServes(server: TestServer, device: MemoryDevice): Promise<void> {
  const c = await server.client();
  await c.handshake({ structured: false });
  c.request(P.CMD_READ, 4096, 4096);
  const reply = await c.reply(4096);
  expect(reply.kind === 'simple' && reply.error).toBe(0);
  expect(reply.kind === 'simple' && reply.data).toEqual(Buffer.from(device.bytes.subarray(4096, 8192)));
  c.destroy();
}

function device(size = MiB): MemoryDevice {
  const d = new MemoryDevice(size, 512);
  for (let i = 0; i < size; i++) d.bytes[i] = (i * 13) & 0xff;
  return d;
}

describe('hostile handshakes', () => {
  it('drops a client with unknown flags, a bad option magic, or an unknown EXPORT_NAME', async () => {
    const d = device();
    const server = await startServer([{ name: '', device: d }]);
    const flags = await server.client();
    await flags.start(0x80);
    await flags.closed();

    const magic = await server.client();
    await magic.start();
    magic.send(u64(0x1234n), u32(P.OPT_LIST), u32(0));
    await magic.closed();

    const name = await server.client();
    await name.start();
    name.sendOption(P.OPT_EXPORT_NAME, Buffer.from('nope'));
    await name.closed();

    const longName = await server.client();
    await longName.start();
    longName.sendOption(P.OPT_EXPORT_NAME, Buffer.alloc(0), 0xffff_ffff); // a 4 GiB name, never buffered
    await longName.closed();
    await stillServes(server, d);
    expect(server.log.join('\n')).toMatch(/unknown client flags 0x80/);
  });

  it('answers unknown options with ERR_UNSUP, oversized ones with ERR_TOO_BIG, malformed ones with ERR_INVALID', async () => {
    const d = device();
    const server = await startServer([{ name: '', device: d }]);
    const c = await server.client();
    await c.start();
    expect((await c.option(99, Buffer.from('junk')))[0]?.type).toBe(P.REP_ERR_UNSUP);
    expect((await c.option(P.OPT_STARTTLS))[0]?.type).toBe(P.REP_ERR_UNSUP);
    // 1 MiB of option data: skipped as it streams in, then refused.
    expect((await c.option(P.OPT_INFO, Buffer.alloc(MiB)))[0]?.type).toBe(P.REP_ERR_TOO_BIG);
    expect((await c.option(P.OPT_LIST, Buffer.from('x')))[0]?.type).toBe(P.REP_ERR_INVALID);
    expect((await c.option(P.OPT_STRUCTURED_REPLY, Buffer.from('x')))[0]?.type).toBe(P.REP_ERR_INVALID);
    // A name length past the data, a count that disagrees with the length, a missing count.
    expect((await c.option(P.OPT_GO, Buffer.concat([u32(1000), Buffer.from('ab')])))[0]?.type).toBe(P.REP_ERR_INVALID);
    const badCount = infoData('', [P.INFO_BLOCK_SIZE]);
    badCount.writeUInt16BE(7, 4);
    expect((await c.option(P.OPT_GO, badCount))[0]?.type).toBe(P.REP_ERR_INVALID);
    expect((await c.option(P.OPT_INFO, u32(0)))[0]?.type).toBe(P.REP_ERR_INVALID);
    expect((await c.option(P.OPT_GO, infoData('missing', [])))[0]?.type).toBe(P.REP_ERR_UNKNOWN);
    await c.option(P.OPT_STRUCTURED_REPLY);
    const badQueries = metaContextData('', [P.BASE_ALLOCATION]);
    badQueries.writeUInt32BE(0x7fff_ffff, 4); // two billion queries in a few bytes
    expect((await c.option(P.OPT_SET_META_CONTEXT, badQueries))[0]?.type).toBe(P.REP_ERR_INVALID);
    expect((await c.option(P.OPT_SET_META_CONTEXT, metaContextData('missing', [P.BASE_ALLOCATION])))[0]?.type).toBe(
      P.REP_ERR_UNKNOWN,
    );
    // After all that the handshake goes on.
    const go = await c.option(P.OPT_GO, infoData('', []));
    expect(go[go.length - 1]?.type).toBe(P.REP_ACK);
    await stillServes(server, d);
  });

  it('survives clients that hang up anywhere in the handshake', async () => {
    const d = device();
    const server = await startServer([{ name: '', device: d }]);
    const early = await server.client();
    early.destroy();
    const midFlags = await server.client();
    await midFlags.reader.read(18);
    midFlags.send(Buffer.from([0, 0]));
    midFlags.destroy();
    const midOption = await server.client();
    await midOption.start();
    midOption.sendOption(P.OPT_GO, Buffer.from([0, 0, 0]), 100);
    midOption.destroy();
    await expect.poll(() => server.server.connections).toBe(0);
    await stillServes(server, d);
  });
});

describe('idle clients', () => {
  it('drops a client that does not finish the handshake in time, and keeps one that did', async () => {
    const d = device();
    const server = await startServer([{ name: '', device: d }], { handshakeTimeout: 200 });
    const silent = await server.client();
    const slow = await server.client();
    await slow.start();
    const served = await server.client();
    await served.handshake({ structured: false });
    await Promise.all([silent.closed(), slow.closed()]);
    expect(server.log.join('\n')).toMatch(/no handshake within 0.2 s/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    served.request(P.CMD_READ, 0, 512);
    expect(await served.reply(512)).toMatchObject({ error: 0 });
  });
});

describe('hostile requests', () => {
  it('refuses reads and writes past the maximum payload with EOVERFLOW (structured) or EINVAL, skipping the payload', async () => {
    const d = device();
    const server = await startServer([{ name: '', device: d }], { maxPayload: 64 * 1024 });
    const structured = await server.client();
    await structured.handshake();
    structured.request(P.CMD_READ, 0, 0xffff_ffff);
    expect(RawNbdClient.errorOf((await structured.chunks())[0] as never)).toBe(P.NBD_EOVERFLOW);

    const simple = await server.client();
    await simple.handshake({ structured: false });
    simple.request(P.CMD_READ, 0, 128 * 1024);
    expect(await simple.reply()).toMatchObject({ kind: 'simple', error: P.NBD_EINVAL });
    // A too-long write's payload is read and dropped, so the next request is in step.
    simple.request(P.CMD_WRITE, 0, 128 * 1024, 0, Buffer.alloc(128 * 1024, 0xee));
    expect(await simple.reply()).toMatchObject({ error: P.NBD_EINVAL });
    expect(d.bytes[0]).toBe(0);
    simple.request(P.CMD_READ, 0, 512);
    expect(await simple.reply(512)).toMatchObject({ error: 0, data: Buffer.from(d.bytes.subarray(0, 512)) });
    await stillServes(server, d);
  });

  it('refuses out-of-range requests with EINVAL, and writes past the end with ENOSPC', async () => {
    const d = device();
    const server = await startServer([{ name: '', device: d }]);
    const c = await server.client();
    await c.handshake({ structured: false });
    const cases: [number, bigint, number, number][] = [
      [P.CMD_READ, BigInt(MiB), 512, P.NBD_EINVAL],
      [P.CMD_READ, BigInt(MiB - 512), 1024, P.NBD_EINVAL],
      [P.CMD_READ, 2n ** 64n - 512n, 512, P.NBD_EINVAL], // an offset no number holds exactly
      [P.CMD_READ, 2n ** 53n + 512n, 512, P.NBD_EINVAL],
      [P.CMD_WRITE_ZEROES, BigInt(MiB - 512), 1024, P.NBD_ENOSPC],
      [P.CMD_TRIM, BigInt(MiB), 512, P.NBD_EINVAL],
    ];
    for (const [type, offset, length, error] of cases) {
      c.request(type, offset, length);
      expect(await c.reply()).toMatchObject({ kind: 'simple', error });
    }
    c.request(P.CMD_WRITE, BigInt(MiB - 512), 1024, 0, Buffer.alloc(1024, 1));
    expect(await c.reply()).toMatchObject({ error: P.NBD_ENOSPC });
    expect(d.bytes[MiB - 512]).toBe(((MiB - 512) * 13) & 0xff);
    await stillServes(server, d);
  });

  it('refuses requests misaligned to the advertised minimum block size once the client asked for it', async () => {
    const d = device();
    const server = await startServer([{ name: '', device: d }]);
    const c = await server.client();
    const { blockSizes } = await c.handshake({ structured: false });
    expect(blockSizes?.[0]).toBe(512);
    c.request(P.CMD_READ, 100, 512);
    expect(await c.reply()).toMatchObject({ error: P.NBD_EINVAL });
    c.request(P.CMD_WRITE, 512, 100, 0, Buffer.alloc(100));
    expect(await c.reply()).toMatchObject({ error: P.NBD_EINVAL });
    await stillServes(server, d);
  });

  it('answers unknown commands and flags with EINVAL, in an ERROR chunk with a message when structured', async () => {
    const d = device();
    const server = await startServer([{ name: '', device: d }]);
    const c = await server.client();
    await c.handshake();
    for (const [type, flags] of [
      [99, 0],
      [P.CMD_CACHE, 0],
      [P.CMD_READ, 0x100],
      [P.CMD_READ, P.CMD_FLAG_REQ_ONE],
      [P.CMD_WRITE_ZEROES, P.CMD_FLAG_FAST_ZERO],
    ] as const) {
      c.request(type, 0, 512, flags);
      const [chunk] = await c.chunks();
      expect(chunk?.type).toBe(P.REPLY_TYPE_ERROR);
      expect(chunk?.payload.readUInt32BE(0)).toBe(P.NBD_EINVAL);
      const messageLength = chunk?.payload.readUInt16BE(4) ?? 0;
      expect(chunk?.payload.subarray(6, 6 + messageLength).toString()).not.toBe('');
    }
    await stillServes(server, d);
  });

  it('refuses BLOCK_STATUS without a negotiated context, and DF without structured replies', async () => {
    const d = device();
    const server = await startServer([{ name: '', device: d }]);
    const c = await server.client();
    await c.handshake({ metaContext: false });
    c.request(P.CMD_BLOCK_STATUS, 0, 4096);
    expect(RawNbdClient.errorOf((await c.chunks())[0] as never)).toBe(P.NBD_EINVAL);
    const simple = await server.client();
    await simple.handshake({ structured: false });
    simple.request(P.CMD_READ, 0, 512, P.CMD_FLAG_DF);
    expect(await simple.reply()).toMatchObject({ error: P.NBD_EINVAL });
  });

  it('answers writes, zeroes and trims to a read-only export with EPERM and changes nothing', async () => {
    const d = device();
    const before = Buffer.from(d.bytes);
    const server = await startServer([{ name: '', device: d, readOnly: true }]);
    const c = await server.client();
    const { flags } = await c.handshake({ structured: false });
    expect(flags & P.TFLAG_READ_ONLY).toBe(P.TFLAG_READ_ONLY);
    c.request(P.CMD_WRITE, 0, 4096, P.CMD_FLAG_FUA, Buffer.alloc(4096, 0xff));
    expect(await c.reply()).toMatchObject({ error: P.NBD_EPERM });
    c.request(P.CMD_WRITE_ZEROES, 0, 4096);
    expect(await c.reply()).toMatchObject({ error: P.NBD_EPERM });
    c.request(P.CMD_TRIM, 0, 4096);
    expect(await c.reply()).toMatchObject({ error: P.NBD_EPERM });
    c.request(P.CMD_FLUSH, 0, 0);
    expect(await c.reply()).toMatchObject({ error: 0 });
    expect(Buffer.from(d.bytes).equals(before)).toBe(true);
  });

  it('drops a client with a bad request magic, and survives one that hangs up mid-request', async () => {
    const d = device();
    const server = await startServer([{ name: '', device: d }]);
    const magic = await server.client();
    await magic.handshake();
    magic.send(Buffer.alloc(28, 0x41));
    await magic.closed();

    const midHeader = await server.client();
    await midHeader.handshake();
    midHeader.send(u32(P.REQUEST_MAGIC), Buffer.alloc(6));
    midHeader.destroy();

    const midPayload = await server.client();
    await midPayload.handshake();
    // A 32 MiB write with 1 MiB of its payload, then gone: nothing reaches the device.
    const header = Buffer.alloc(28);
    header.writeUInt32BE(P.REQUEST_MAGIC, 0);
    header.writeUInt16BE(P.CMD_WRITE, 6);
    header.writeUInt32BE(32 * MiB, 24);
    midPayload.send(header, Buffer.alloc(MiB, 0x55));
    await new Promise((resolve) => setTimeout(resolve, 20));
    midPayload.destroy();

    const hugeWrite = await server.client();
    await hugeWrite.handshake();
    header.writeUInt32BE(0xffff_ffff, 24); // past the maximum: skipped as it comes, never buffered
    hugeWrite.send(header, Buffer.alloc(MiB, 0x66));
    await new Promise((resolve) => setTimeout(resolve, 20));
    hugeWrite.destroy();

    await expect.poll(() => server.server.connections).toBe(0);
    expect(d.bytes.includes(0x55) || d.bytes.includes(0x66)).toBe(d.bytes.some((_, i) => ((i * 13) & 0xff) === 0x55));
    expect(d.bytes.subarray(0, 4096)).toEqual(device().bytes.subarray(0, 4096));
    await stillServes(server, d);
  });
});

describe('bounded memory under pipelining', () => {
  it('caps the bytes in flight: pipelined big writes wait, unread, in the socket', async () => {
    const d = device(8 * MiB);
    let release!: () => void;
    d.gate = new Promise((resolve) => {
      release = resolve;
    });
    const server = await startServer([{ name: '', device: d }], { maxPayload: MiB, maxBytesInFlight: 2 * MiB });
    const c = await server.client();
    await c.handshake({ structured: false });
    for (let i = 0; i < 8; i++) c.request(P.CMD_WRITE, i * MiB, MiB, 0, Buffer.alloc(MiB, i + 1));
    await expect.poll(() => d.inFlight).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(d.inFlight).toBe(2); // not 8: the other writes' payloads were not read
    release();
    for (let i = 0; i < 8; i++) expect(await c.reply()).toMatchObject({ error: 0 });
    expect(d.maxBytesInFlight).toBeLessThanOrEqual(2 * MiB);
    for (let i = 0; i < 8; i++) expect(d.bytes[i * MiB + 12345]).toBe(i + 1);
  });

  it('holds at most 64 MiB of sixteen pipelined 32 MiB writes, not 512 MiB (default limits)', async () => {
    // A device of 1 GiB that keeps nothing: it only counts what is in flight.
    let inFlight = 0;
    let maxInFlight = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const sink = {
      virtualSize: 1024 * MiB,
      requestAlignment: 512,
      writable: true,
      readInto: async () => {},
      write: async (_offset: number, bytes: Uint8Array) => {
        inFlight += bytes.length;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await gate;
        inFlight -= bytes.length;
      },
    };
    const server = await startServer([{ name: '', device: sink }]);
    const c = await server.client();
    await c.handshake({ structured: false });
    const before = process.memoryUsage().arrayBuffers;
    const payload = Buffer.alloc(32 * MiB, 0x77); // one buffer, written sixteen times: the client holds 32 MiB
    for (let i = 0; i < 16; i++) c.request(P.CMD_WRITE, i * 32 * MiB, 32 * MiB, 0, payload);
    await expect.poll(() => inFlight, { timeout: 10_000 }).toBe(64 * MiB);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(inFlight).toBe(64 * MiB);
    // The server holds two payloads, the client one (plus the chunks they were read from,
    // not yet collected): far from the 512 MiB that reading every payload would take.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(160 * MiB);
    release();
    for (let i = 0; i < 16; i++) expect(await c.reply()).toMatchObject({ error: 0 });
    expect(maxInFlight).toBe(64 * MiB);
  });

  it('caps the requests in flight', async () => {
    const d = device();
    let release!: () => void;
    d.gate = new Promise((resolve) => {
      release = resolve;
    });
    const server = await startServer([{ name: '', device: d }], { maxRequestsInFlight: 4 });
    const c = await server.client();
    await c.handshake({ structured: false });
    for (let i = 0; i < 40; i++) c.request(P.CMD_READ, i * 512, 512);
    await expect.poll(() => d.inFlight).toBe(4);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(d.inFlight).toBe(4);
    release();
    for (let i = 0; i < 40; i++) expect(await c.reply(512)).toMatchObject({ error: 0 });
    expect(d.maxInFlight).toBe(4);
  });

  it('close() does not wait for ever for a client that does not read its replies', async () => {
    const d = device(32 * MiB);
    const server = await startServer([{ name: '', device: d }], { stopTimeout: 300 });
    const c = await server.client();
    await c.handshake({ structured: false });
    c.socket.pause();
    for (let i = 0; i < 200; i++) c.request(P.CMD_READ, (i % 32) * MiB, MiB);
    await expect.poll(() => d.inFlight === 0 && server.server.connections === 1).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const start = Date.now();
    await server.server.close();
    expect(Date.now() - start).toBeLessThan(3000);
    expect(server.server.connections).toBe(0);
  });

  it('stops reading requests from a client that does not read its replies', async () => {
    const d = device(32 * MiB);
    const server = await startServer([{ name: '', device: d }]);
    const c = await server.client();
    await c.handshake({ structured: false });
    c.socket.pause(); // never read a reply
    let reads = 0;
    const readInto = d.readInto.bind(d);
    d.readInto = (buffer, offset) => {
      reads += 1;
      return readInto(buffer, offset);
    };
    for (let i = 0; i < 2000; i++) c.request(P.CMD_READ, (i % 32) * MiB, MiB);
    await new Promise((resolve) => setTimeout(resolve, 500));
    // 2000 MiB asked for; the server stopped after its reply queue and the socket buffers filled.
    expect(reads).toBeLessThan(200);
    c.destroy();
    await expect.poll(() => server.server.connections).toBe(0);
    await stillServes(server, d);
  });
});
