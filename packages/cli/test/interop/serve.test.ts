/**
 * `vdisk serve` against the real NBD clients, over a Unix socket and over TCP on
 * 127.0.0.1: QEMU's (qemu-img info, map, convert, compare; qemu-io writes) and libnbd's
 * (nbdinfo, nbdcopy both ways, nbdsh for REQ_ONE, structured errors and LIST).
 */
import { existsSync } from 'node:fs';
import { copyFile, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImages, type InteropImage, specsNamed } from './image-set.js';
import { describeNbdInterop, listenArgs, nbdTool, normalizeMap, serve, type ZeroDataRun } from './nbd-peers.js';
import { bximageCreate, makeScratchDir, qemuImg, removeScratchDir, run, vdisk, vdiskOk } from './peers.js';

const MiB = 1024 * 1024;
const TRANSPORTS = ['unix', 'tcp'] as const;

async function vdiskMap(path: string, format: string): Promise<ZeroDataRun[]> {
  return normalizeMap(JSON.parse(await vdiskOk('map', '-f', format, '--output=json', path)));
}

async function expectSameFile(a: string, b: string): Promise<void> {
  const result = await run('cmp', [a, b]);
  expect(result.stdout + result.stderr).toBe('');
  expect(result.code).toBe(0);
}

describeNbdInterop('vdisk serve to QEMU and libnbd clients', () => {
  let dir: string;
  let images: InteropImage[];
  beforeAll(async () => {
    dir = await makeScratchDir();
    images = await buildImages(dir, specsNamed('holes-10M', 'pattern-2M'));
  });
  afterAll(() => removeScratchDir(dir));

  for (const transport of TRANSPORTS) {
    describe(`over ${transport === 'unix' ? 'a Unix socket' : 'TCP on 127.0.0.1'}`, () => {
      it('qemu-img info, map, convert and compare read the Bochs image as vdisk does', async () => {
        for (const image of images) {
          const served = await serve(['-f', 'bochs', '--read-only', ...listenArgs(transport, dir), image.path]);
          try {
            if (transport === 'tcp') expect(served.uri).toMatch(/^nbd:\/\/127\.0\.0\.1:\d+\/$/);
            else expect(served.uri).toBe(`nbd+unix:///?socket=${join(dir, 'nbd.sock')}`);
            const info = JSON.parse((await qemuImg('info', '--output=json', served.uri)).stdout);
            expect(info['virtual-size']).toBe(image.virtualSize);

            const map = await qemuImg('map', '--output=json', served.uri);
            expect(map.code).toBe(0);
            expect(normalizeMap(JSON.parse(map.stdout))).toEqual(await vdiskMap(image.path, 'bochs'));

            const viaNbd = join(dir, `${image.name}.${transport}.qemu.raw`);
            const direct = join(dir, `${image.name}.vdisk.raw`);
            expect((await qemuImg('convert', '-O', 'raw', served.uri, viaNbd)).code).toBe(0);
            await vdiskOk('convert', '-f', 'bochs', '-O', 'raw', image.path, direct);
            await expectSameFile(viaNbd, direct);
            await expectSameFile(viaNbd, image.raw);

            const compare = await qemuImg('compare', served.uri, image.raw);
            expect(compare.stdout).toContain('Images are identical.');
            expect(compare.code).toBe(0);
          } finally {
            const { code, stderr } = await served.stop();
            expect(code).toBe(0);
            // One line per connection: qemu-img connected four times.
            expect(stderr.match(/^vdisk: connection \d+ from .*DISC\)$/gm)?.length).toBe(4);
          }
          if (transport === 'unix') expect(existsSync(join(dir, 'nbd.sock'))).toBe(false);
        }
      });

      it('nbdinfo --json and --map, and nbdcopy, read it as vdisk does', async () => {
        const image = images[0] as InteropImage;
        const served = await serve(['-f', 'bochs', ...listenArgs(transport, dir), image.path]);
        try {
          const info = JSON.parse((await nbdTool('nbdinfo', ['--json', served.uri])).stdout);
          expect(info).toMatchObject({ protocol: 'newstyle-fixed', structured: true });
          // Bochs is writable now; the export says so, with everything a writable export offers.
          expect(info.exports[0]).toMatchObject({
            'export-name': '',
            'export-size': image.virtualSize,
            contexts: ['base:allocation'],
            is_read_only: false,
            can_flush: true,
            can_fua: true,
            can_trim: true,
            can_zero: true,
            can_multi_conn: true,
            block_size_minimum: 512,
            block_size_preferred: 4096,
            block_size_maximum: 32 * MiB,
          });

          const map = await nbdTool('nbdinfo', ['--map', served.uri]);
          expect(map.code).toBe(0);
          const runs = map.stdout
            .trim()
            .split('\n')
            .map((line) => {
              const [start, length, type] = line.trim().split(/\s+/).map(Number) as [number, number, number];
              return { start, length, zero: (type & 2) !== 0, data: (type & 1) === 0 };
            });
          expect(normalizeMap(runs)).toEqual(await vdiskMap(image.path, 'bochs'));

          const copied = join(dir, `nbdcopy.${transport}.raw`);
          expect((await nbdTool('nbdcopy', [served.uri, copied])).code).toBe(0);
          await expectSameFile(copied, image.raw);
        } finally {
          expect((await served.stop()).code).toBe(0);
        }
      });
    });
  }

  /** A model of the disk: qemu-io's commands applied to a buffer. */
  const commands: [string, (model: Buffer) => void][] = [
    ['write -P 0x11 0 4096', (m) => m.fill(0x11, 0, 4096)],
    ['write -P 0x22 1000000 70000', (m) => m.fill(0x22, 1000000, 1070000)],
    ['write -P 0x33 3M 256k', (m) => m.fill(0x33, 3 * MiB, 3 * MiB + 256 * 1024)],
    ['write -z 3M 64k', (m) => m.fill(0, 3 * MiB, 3 * MiB + 64 * 1024)],
    ['discard 3211264 65536', (m) => m.fill(0, 3211264, 3211264 + 65536)],
    ['write -P 0x44 9M 512k', (m) => m.fill(0x44, 9 * MiB, 9 * MiB + 512 * 1024)],
  ];
  const reads = [
    'read -P 0x11 0 4096',
    'read -P 0x22 1000000 70000',
    'read -P 0 3M 64k',
    'read -P 0 3211264 65536',
    'read -P 0x33 3276800 131072',
    'read -P 0x44 9M 512k',
  ];

  for (const [format, transport] of [
    ['raw', 'tcp'],
    ['bochs', 'unix'],
    ['raw', 'unix'],
    ['bochs', 'tcp'],
  ] as const) {
    it(`qemu-io writes to a ${format} image over ${transport}, reads them back, and the file holds them`, async () => {
      const path = join(dir, `written-${transport}.${format}`);
      if (format === 'bochs') await bximageCreate(path, '10M');
      else await writeFile(path, Buffer.alloc(0)).then(() => truncate(path, 10 * 1024 * 1024));
      const size = format === 'bochs' ? 10321920 : 10 * MiB;
      const served = await serve(['-f', format, ...listenArgs(transport, dir, `w-${format}.sock`), path]);
      const io = await run('qemu-io', [
        '-f',
        'raw',
        ...[...commands.map(([c]) => c), ...reads].flatMap((c) => ['-c', c]),
        served.uri,
      ]);
      const { code, stderr } = await served.stop('SIGINT');
      expect(io.stderr).toBe('');
      expect(io.stdout).not.toContain('failed');
      expect(io.stdout.match(/^read \d+\/\d+ bytes/gm)?.length).toBe(reads.length);
      expect(code).toBe(0);
      expect(stderr).toMatch(/read-write, \d+ requests, \d+ bytes read, \d+ bytes written; disconnected \(DISC\)/);

      const model = Buffer.alloc(size);
      for (const [, apply] of commands) apply(model);
      const contents = join(dir, `written-${transport}-${format}.raw`);
      if (format === 'bochs') {
        const check = await vdisk('check', '-f', 'bochs', path);
        expect(check.stdout).toContain('No errors were found on the image.');
        expect(check.code).toBe(0);
        await vdiskOk('convert', '-f', 'bochs', '-O', 'raw', path, contents);
        // QEMU's own Bochs reader agrees.
        const viaQemu = join(dir, `written-${transport}-qemu.raw`);
        expect((await qemuImg('convert', '-f', 'bochs', '-O', 'raw', path, viaQemu)).code).toBe(0);
        await expectSameFile(viaQemu, contents);
      } else {
        await copyFile(path, contents);
      }
      expect((await readFile(contents)).equals(model)).toBe(true);
    });
  }

  it("--snapshot over a Bochs image with holes: the map and the bytes are the image's where unwritten (its data is no hole)", async () => {
    const image = images[0] as InteropImage;
    const before = await readFile(image.path);
    const served = await serve(['-f', 'bochs', '--snapshot', ...listenArgs('tcp', dir), image.path]);
    const map = JSON.parse((await qemuImg('map', '--output=json', served.uri)).stdout);
    expect(normalizeMap(map)).toEqual(await vdiskMap(image.path, 'bochs'));
    const io = await run('qemu-io', [
      '-f',
      'raw',
      ...['write -P 0x5a 0 1M', 'write -z 2M 64k', 'read -P 0x5a 0 1M', 'read -P 0 2M 64k'].flatMap((c) => ['-c', c]),
      served.uri,
    ]);
    expect(io.stdout).not.toContain('failed');
    expect(io.stdout.match(/^read \d+\/\d+ bytes/gm)?.length).toBe(2);
    // Outside what was written it still reads as the image: the base's data, through the overlay.
    const copy = join(dir, 'snapshot-view.raw');
    expect((await qemuImg('convert', '-O', 'raw', served.uri, copy)).code).toBe(0);
    const expected = await readFile(image.raw);
    expected.fill(0x5a, 0, MiB);
    expected.fill(0, 2 * MiB, 2 * MiB + 65536);
    expect((await readFile(copy)).equals(expected)).toBe(true);
    expect((await served.stop()).code).toBe(0);
    expect((await readFile(image.path)).equals(before)).toBe(true);
  });

  it('nbdcopy writes a raw file into a served Bochs image, which then checks clean and reads back', async () => {
    const image = images[0] as InteropImage;
    const target = join(dir, 'nbdcopy-target.bochs');
    await bximageCreate(target, '20M');
    const served = await serve(['-f', 'bochs', ...listenArgs('unix', dir, 'copy.sock'), target]);
    const copy = await nbdTool('nbdcopy', [image.raw, served.uri]);
    expect(copy.stderr).toBe('');
    expect(copy.code).toBe(0);
    expect((await served.stop()).code).toBe(0);
    expect((await vdisk('check', '-f', 'bochs', target)).code).toBe(0);
    const back = join(dir, 'nbdcopy-target.raw');
    await vdiskOk('convert', '-f', 'bochs', '-O', 'raw', target, back);
    const source = await readFile(image.raw);
    const written = await readFile(back);
    expect(written.subarray(0, source.length).equals(source)).toBe(true);
    expect(written.subarray(source.length).every((b) => b === 0)).toBe(true);
  });

  it('nbdsh: LIST names the export, REQ_ONE gives one extent, errors come back as structured replies', async () => {
    const image = images[0] as InteropImage;
    const served = await serve([
      '-f',
      'bochs',
      '--read-only',
      '--export',
      'disk',
      ...listenArgs('unix', dir, 'sh.sock'),
      image.path,
    ]);
    const script = `
import json
out = {}
h.set_opt_mode(True)
h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.connect_uri(${JSON.stringify(served.uri)})
names = []
h.opt_list(lambda name, description: names.append(name))
out["list"] = names
h.opt_go()
out["structured"] = h.get_structured_replies_negotiated()
out["read_only"] = h.is_read_only()
size = h.get_size()
extents = []
def extent(metacontext, offset, entries, err):
    extents.append([metacontext, offset, list(entries)])
    return 0
h.block_status(size, 0, extent, nbd.CMD_FLAG_REQ_ONE)
out["req_one"] = extents
h.set_strict_mode(0)
def error_of(call):
    try:
        call()
        return 0
    except nbd.Error as e:
        return e.errnum
out["read_past_end"] = error_of(lambda: h.pread(512, size))
out["write_read_only"] = error_of(lambda: h.pwrite(b"x" * 512, 0))
out["unaligned"] = error_of(lambda: h.pread(100, 1))
out["still_reads"] = len(h.pread(4096, 0))
print(json.dumps(out))
`;
    const result = await nbdTool('nbdsh', ['-c', script]);
    expect((await served.stop()).code).toBe(0);
    expect(result.stderr).toBe('');
    const out = JSON.parse(result.stdout);
    const firstRun = (await vdiskMap(image.path, 'bochs'))[0] as ZeroDataRun;
    expect(out).toEqual({
      list: ['disk'],
      structured: true,
      read_only: true,
      req_one: [['base:allocation', 0, [firstRun.length, firstRun.data ? 0 : 3]]],
      read_past_end: 22,
      write_read_only: 1,
      unaligned: 22,
      still_reads: 4096,
    });
  });
});
