/**
 * `vdisk serve` as a process: its arguments, what it prints, what it refuses, and a clean
 * stop on SIGINT/SIGTERM. The client is the bare protocol client of @vdisk/nbd's tests,
 * so these run without any NBD tool installed (the real clients are in interop/serve.test.ts).
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { infoData, RawNbdClient } from '../../nbd/src/nbd-client.fixture.js';
import * as P from '../../nbd/src/protocol.js';
import { serve } from './serve-process.js';
import { assertBuilt, vdisk } from './vdisk-process.js';

const dir = mkdtempSync(join(tmpdir(), 'vdisk-serve-'));
beforeAll(() => assertBuilt());
afterAll(() => rm(dir, { recursive: true, force: true }));

async function rawImage(name: string, size: number, fill = 0): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, Buffer.alloc(size, fill));
  return path;
}

describe('vdisk serve arguments', () => {
  it('needs exactly one of --socket and --port, and --bind only with --port', async () => {
    const image = await rawImage('args.raw', 4096);
    for (const args of [
      [image],
      ['--socket', join(dir, 'x.sock'), '--port', '0', image],
      ['--socket', join(dir, 'x.sock'), '--bind', '0.0.0.0', image],
    ]) {
      const result = await vdisk(['serve', '-f', 'raw', ...args]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /^vdisk: (serve needs one of --socket PATH or --port N|--bind goes with --port, not --socket)\n$/,
      );
    }
    for (const port of ['abc', '65536', '-1']) {
      const result = await vdisk(['serve', '-f', 'raw', `--port=${port}`, image]);
      expect(result.stderr).toBe(`vdisk: Invalid port '${port}': expected 0 to 65535\n`);
      expect(result.code).toBe(1);
    }
  });

  it('refuses a socket path that exists, and leaves what is there alone', async () => {
    const image = await rawImage('taken.raw', 4096);
    const taken = join(dir, 'taken.sock');
    await writeFile(taken, 'precious');
    const result = await vdisk(['serve', '-f', 'raw', '--socket', taken, image]);
    expect(result.stderr).toBe(`vdisk: Failed to bind socket to ${taken}: Address already in use\n`);
    expect(result.code).toBe(1);
    expect(await readFile(taken, 'utf8')).toBe('precious');
  });

  it('names the file that cannot be opened, and leaves no socket behind', async () => {
    const missing = join(dir, 'missing.raw');
    const socket = join(dir, 'missing.sock');
    const result = await vdisk(['serve', '-f', 'raw', '--socket', socket, missing]);
    expect(result.stderr).toBe(`vdisk: ${missing}: No such file or directory\n`);
    expect(result.code).toBe(1);
    expect(existsSync(socket)).toBe(false);
  });
});

describe('vdisk serve', () => {
  it('--read-only advertises READ_ONLY, answers writes with EPERM, logs the connection, stops on SIGTERM', async () => {
    const image = await rawImage('ro.raw', 64 * 1024, 7);
    const socket = join(dir, 'ro.sock');
    const served = await serve(['-f', 'raw', '--read-only', '--socket', socket, image]);
    expect(served.stderr()).toBe(`vdisk: serving ${image} (raw, read-only) on nbd+unix:///?socket=${socket}\n`);
    const client = await RawNbdClient.connect(socket);
    const { flags, size } = await client.handshake({ structured: false });
    expect(size).toBe(65536n);
    expect(flags & P.TFLAG_READ_ONLY).toBe(P.TFLAG_READ_ONLY);
    client.request(P.CMD_WRITE, 0, 512, 0, Buffer.alloc(512, 1));
    expect(await client.reply()).toMatchObject({ error: P.NBD_EPERM });
    client.request(P.CMD_READ, 0, 512);
    expect(await client.reply(512)).toMatchObject({ error: 0, data: Buffer.alloc(512, 7) });
    client.request(P.CMD_DISC, 0, 0);
    await client.closed();
    const { code, stderr } = await served.stop('SIGTERM');
    expect(code).toBe(0);
    expect(stderr).toContain(
      'vdisk: connection 1 from unix socket: export "" read-only, 3 requests, 512 bytes read, 0 bytes written, 1 errors; disconnected (DISC)\n',
    );
    expect(existsSync(socket)).toBe(false);
    expect((await readFile(image)).equals(Buffer.alloc(64 * 1024, 7))).toBe(true);
  });

  it('serves a named export on loopback TCP, with a line per request under --debug', async () => {
    const image = await rawImage('named.raw', 8192);
    const served = await serve(['--debug', '-f', 'raw', '--port', '0', '--export', 'disk one', image]);
    expect(served.uri).toMatch(/^nbd:\/\/127\.0\.0\.1:\d+\/disk%20one$/);
    const client = await RawNbdClient.connect({ host: '127.0.0.1', port: Number(new URL(served.uri).port) });
    await client.handshake({ name: 'disk one', structured: false });
    client.request(P.CMD_WRITE, 512, 512, P.CMD_FLAG_FUA, Buffer.alloc(512, 3));
    expect(await client.reply()).toMatchObject({ error: 0 });
    client.request(P.CMD_DISC, 0, 0);
    await client.closed();
    const { code, stderr } = await served.stop('SIGINT');
    expect(code).toBe(0);
    expect(stderr).toContain('vdisk: connection 1: WRITE offset 512 length 512 flags 0x1: ok\n');
    expect(stderr).toMatch(/vdisk: connection 1 from 127\.0\.0\.1:\d+: export "disk one" read-write, 2 requests/);
    expect((await readFile(image)).subarray(512, 1024).equals(Buffer.alloc(512, 3))).toBe(true);
    expect(stderr).toMatch(/vdisk: stopping: finishing requests in flight\n$/);
  });

  it('on SIGTERM finishes the writes in flight: every acknowledged write is in the file, and it exits 0', async () => {
    const MiB = 1024 * 1024;
    const image = join(dir, 'rw.raw');
    await writeFile(image, '');
    await truncate(image, 16 * MiB);
    const socket = join(dir, 'rw.sock');
    const served = await serve(['-f', 'raw', '--socket', socket, image]);
    const client = await RawNbdClient.connect(socket);
    await client.handshake({ structured: false });
    // Names the default export: GO with the empty name worked above. Now 16 pipelined writes.
    for (let i = 0; i < 16; i++) client.request(P.CMD_WRITE, i * MiB, MiB, P.CMD_FLAG_FUA, Buffer.alloc(MiB, i + 1));
    expect(await client.reply()).toMatchObject({ error: 0 });
    const stopped = served.stop('SIGTERM');
    const acknowledged: bigint[] = [1n];
    for (;;) {
      const reply = await client.reply().catch(() => undefined);
      if (!reply) break;
      expect(RawNbdClient.errorOf(reply)).toBe(0);
      acknowledged.push(reply.cookie);
    }
    const { code } = await stopped;
    expect(code).toBe(0);
    const contents = await readFile(image);
    for (const cookie of acknowledged) {
      const i = Number(cookie) - 1;
      expect(contents.subarray(i * MiB, (i + 1) * MiB).equals(Buffer.alloc(MiB, i + 1))).toBe(true);
    }
    expect(existsSync(socket)).toBe(false);
  });

  it('warns as qemu-nbd for a guessed raw image, and refuses a write that would make sector 0 another format', async () => {
    const image = await rawImage('guessed.img', 64 * 1024);
    const socket = join(dir, 'guessed.sock');
    const served = await serve(['--socket', socket, image]);
    expect(served.stderr()).toContain(
      `WARNING: Image format was not specified for '${image}' and probing guessed raw.\n`,
    );
    const client = await RawNbdClient.connect(socket);
    await client.handshake({ structured: false });
    const bochsHeader = (await readFile(new URL('../../../examples/hello.bochs', import.meta.url))).subarray(0, 512);
    client.request(P.CMD_WRITE, 0, 512, 0, bochsHeader);
    expect(await client.reply()).toMatchObject({ error: P.NBD_EPERM });
    client.request(P.CMD_WRITE, 0, 512, 0, Buffer.alloc(512, 0x5a));
    expect(await client.reply()).toMatchObject({ error: 0 });
    client.destroy();
    expect((await served.stop()).code).toBe(0);
    const contents = await readFile(image);
    expect(contents.subarray(0, 512).equals(Buffer.alloc(512, 0x5a))).toBe(true);
  });

  it('serves a format that cannot write read-only, without being asked', async () => {
    // The test format of probe.test.ts (sectors stored reversed): a plugin with no write capability.
    const plugin = new URL('./fixtures/tpf-plugin.mjs', import.meta.url).pathname;
    const tpf = Buffer.alloc(1536);
    tpf.write('TPF1');
    tpf[4] = 2;
    tpf[512] = 9;
    const image = join(dir, 'disk.tpf');
    await writeFile(image, tpf);
    const socket = join(dir, 'tpf.sock');
    const served = await serve(['--socket', socket, image], ['--plugin', plugin]);
    expect(served.stderr()).toContain(`vdisk: serving ${image} (tpf, read-only) on `);
    const client = await RawNbdClient.connect(socket);
    const { flags, blockSizes } = await client.handshake({ structured: false });
    expect(flags & P.TFLAG_READ_ONLY).toBe(P.TFLAG_READ_ONLY);
    expect(blockSizes?.[0]).toBe(512);
    client.request(P.CMD_READ, 0, 512);
    const read = await client.reply(512);
    expect(read.kind === 'simple' && read.data?.[511]).toBe(9);
    client.request(P.CMD_WRITE, 0, 512, 0, Buffer.alloc(512));
    expect(await client.reply()).toMatchObject({ error: P.NBD_EPERM });
    client.destroy();
    expect((await served.stop()).code).toBe(0);
  });

  it('serves a window of a raw file with -o offset=,size= (a partition)', async () => {
    const bytes = Buffer.alloc(16384);
    for (let i = 0; i < bytes.length; i++) bytes[i] = i >> 9;
    const image = join(dir, 'window.raw');
    await writeFile(image, bytes);
    const socket = join(dir, 'window.sock');
    const served = await serve(['-f', 'raw', '-o', 'offset=4096,size=8192', '--socket', socket, image]);
    const client = await RawNbdClient.connect(socket);
    const { size } = await client.handshake({ structured: false });
    expect(size).toBe(8192n);
    client.request(P.CMD_READ, 0, 8192);
    const read = await client.reply(8192);
    expect(read.kind === 'simple' && read.data?.equals(bytes.subarray(4096, 12288))).toBe(true);
    client.request(P.CMD_WRITE, 8192, 512, 0, Buffer.alloc(512));
    expect(await client.reply()).toMatchObject({ error: P.NBD_ENOSPC }); // the window's end, not the file's
    client.destroy();
    expect((await served.stop()).code).toBe(0);
    expect((await readFile(image)).equals(bytes)).toBe(true);
  });

  it('on SIGTERM waits past the usual grace for a client that does not take its replies, then exits 0', async () => {
    const MiB = 1024 * 1024;
    const image = join(dir, 'stuck.raw');
    await writeFile(image, '');
    await truncate(image, 32 * MiB);
    const socket = join(dir, 'stuck.sock');
    const served = await serve(['-f', 'raw', '--socket', socket, image]);
    const client = await RawNbdClient.connect(socket);
    await client.handshake({ structured: false });
    client.request(P.CMD_WRITE, 0, 4096, 0, Buffer.alloc(4096, 0x42));
    expect(await client.reply()).toMatchObject({ error: 0 });
    client.socket.pause(); // from now on, never read a reply
    for (let i = 0; i < 200; i++) client.request(P.CMD_READ, (i % 32) * MiB, MiB);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const start = Date.now();
    const { code, stderr } = await served.stop('SIGTERM');
    expect(code).toBe(0);
    expect(Date.now() - start).toBeGreaterThan(2500); // it was not cut off by the usual 2 s grace
    expect(stderr).toMatch(/connection 1 from unix socket: .*closed by the server/);
    expect((await readFile(image)).subarray(0, 4096).equals(Buffer.alloc(4096, 0x42))).toBe(true);
    client.destroy();
  }, 20_000);

  it('--snapshot serves writes from a temporary overlay and leaves the image as it was', async () => {
    const original = Buffer.alloc(256 * 1024);
    for (let i = 0; i < original.length; i++) original[i] = (i * 31) & 0xff;
    const image = join(dir, 'snapshot.raw');
    await writeFile(image, original);
    const socket = join(dir, 'snapshot.sock');
    const served = await serve(['-f', 'raw', '--snapshot', '--socket', socket, image]);
    expect(served.stderr()).toContain(`vdisk: serving ${image} (raw, snapshot, read-write) on `);
    const client = await RawNbdClient.connect(socket);
    const { flags } = await client.handshake({ structured: false });
    expect(flags & P.TFLAG_READ_ONLY).toBe(0);
    client.request(P.CMD_WRITE, 1000, 70000, P.CMD_FLAG_FUA, Buffer.alloc(70000, 0xab));
    expect(await client.reply()).toMatchObject({ error: 0 });
    client.request(P.CMD_WRITE_ZEROES, 131072, 65536);
    expect(await client.reply()).toMatchObject({ error: 0 });
    const expected = Buffer.from(original);
    expected.fill(0xab, 1000, 71000);
    expected.fill(0, 131072, 196608);
    client.request(P.CMD_READ, 0, expected.length);
    const read = await client.reply(expected.length);
    expect(read.kind === 'simple' && read.data?.equals(expected)).toBe(true);
    client.request(P.CMD_FLUSH, 0, 0);
    expect(await client.reply()).toMatchObject({ error: 0 });
    client.destroy();
    expect((await served.stop()).code).toBe(0);
    expect((await readFile(image)).equals(original)).toBe(true);
  });

  it('lists the export under its name and refuses another name', async () => {
    const image = await rawImage('list.raw', 4096);
    const socket = join(dir, 'list.sock');
    const served = await serve(['-f', 'raw', '--socket', socket, '--export', 'only', image]);
    const client = await RawNbdClient.connect(socket);
    await client.start();
    const list = await client.option(P.OPT_LIST);
    expect(list.map((r) => r.type)).toEqual([P.REP_SERVER, P.REP_ACK]);
    expect(list[0]?.data.subarray(4).toString()).toBe('only');
    expect((await client.option(P.OPT_GO, infoData('', [])))[0]?.type).toBe(P.REP_ERR_UNKNOWN);
    client.destroy();
    expect((await served.stop()).code).toBe(0);
  });
});
