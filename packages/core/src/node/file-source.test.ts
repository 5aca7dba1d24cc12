import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ByteSource } from '../byte-source.js';
import type { BlockDriver } from '../driver.js';
import { ImageFormatError, ReadOnlyError, SystemError } from '../errors.js';
import { readSource } from '../read-source.js';
import { Registry } from '../registry.js';
import { writeSource } from '../write-source.js';
import { blockDeviceSize, deviceNumbers } from './block-device-size.js';
import { FileSource } from './file-source.js';
import { openFile, probeFile } from './open-file.js';

let dir: string;
const bytes = Uint8Array.from({ length: 3000 }, (_, i) => (i * 13) & 0xff);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vdisk-file-source-'));
  await writeFile(join(dir, 'data.bin'), bytes);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('FileSource', () => {
  it('reads positionally and zero-fills past the end', async () => {
    const source = await FileSource.open(join(dir, 'data.bin'));
    expect(source.size).toBe(3000);
    const buffer = new Uint8Array(200).fill(0xee);
    await source.read(buffer, 2900);
    expect(buffer.subarray(0, 100)).toEqual(bytes.subarray(2900));
    expect(buffer.subarray(100)).toEqual(new Uint8Array(100));
    expect(await source.allocatedSize()).toBeGreaterThan(0);
    await source.close();
    await source.close();
  });

  it("fails with the operating system's words", async () => {
    await expect(FileSource.open(join(dir, 'missing'))).rejects.toMatchObject({
      constructor: SystemError,
      code: 'EIO',
      syscallCode: 'ENOENT',
      message: 'No such file or directory',
    });
    await expect(FileSource.open(dir)).rejects.toMatchObject({ constructor: SystemError, message: 'Is a directory' });
  });

  it('refuses a FIFO at once instead of waiting for a writer', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    await expect(FileSource.open(fifo)).rejects.toMatchObject({
      constructor: SystemError,
      message: 'Not a regular file',
    });
  });
});

describe('openFile and probeFile', () => {
  const picky: BlockDriver = {
    name: 'picky',
    probe: () => 100,
    open: async () => {
      throw new ImageFormatError('Image not in picky format');
    },
  };

  async function openDescriptors(): Promise<number> {
    return (await readdir('/proc/self/fd')).length;
  }

  it('names the file in errors and leaks no descriptor when open fails', async () => {
    const registry = new Registry([picky]);
    const path = join(dir, 'data.bin');
    const before = await openDescriptors();
    for (let i = 0; i < 300; i++) {
      await expect(openFile(registry, path)).rejects.toMatchObject({
        message: 'Image not in picky format',
        filename: path,
      });
    }
    expect(await openDescriptors()).toBeLessThanOrEqual(before);
  });

  it('opens a file writable when asked, and read-only otherwise', async () => {
    // A driver that maps the disk straight onto the file, as raw does.
    const straight: BlockDriver = {
      name: 'straight',
      probe: () => 1,
      open: async (source) => ({
        virtualSize: source.size,
        requestAlignment: 1,
        readv: (offset, buffers) => readSource(source, buffers, offset),
        close: async () => {},
      }),
      write: (image, offset, buffers) =>
        writeSource((image as unknown as { source: ByteSource }).source, buffers, offset),
    };
    const driver: BlockDriver = {
      ...straight,
      open: async (source, options) => Object.assign(await straight.open(source, options), { source }),
    };
    const registry = new Registry([driver]);
    const path = join(dir, 'writable.bin');
    await writeFile(path, new Uint8Array(16));
    const device = await openFile(registry, path, { format: 'straight', writable: true });
    expect(device.writable).toBe(true);
    await device.write(3, Uint8Array.of(9, 9));
    await device.flush();
    await device.close();
    expect(new Uint8Array(await readFile(path))).toEqual(Uint8Array.of(0, 0, 0, 9, 9, ...new Array(11).fill(0)));
    const readOnly = await openFile(registry, path, { format: 'straight' });
    await expect(readOnly.write(0, Uint8Array.of(1))).rejects.toBeInstanceOf(ReadOnlyError);
    await readOnly.close();
  });

  it('probes a file and closes it', async () => {
    const before = await openDescriptors();
    const result = await probeFile(new Registry([picky]), join(dir, 'data.bin'));
    expect(result.format).toBe('picky');
    expect(await openDescriptors()).toBeLessThanOrEqual(before);
  });
});

// A file whose byte i is (i * 7 + 3) & 0xff, so any misplaced byte shows.
const FILE_SIZE = 10_000;
const byteAt = (i: number) => (i < FILE_SIZE ? (i * 7 + 3) & 0xff : 0);
const expected = (position: number, length: number) => Uint8Array.from({ length }, (_, i) => byteAt(position + i));
const concat = (buffers: Uint8Array[]) => {
  const out = new Uint8Array(buffers.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of buffers) {
    out.set(b, at);
    at += b.length;
  }
  return out;
};

describe('FileSource.readv', () => {
  let readvDir: string;
  let path: string;
  beforeAll(async () => {
    readvDir = await mkdtemp(join(tmpdir(), 'vdisk-file-source-readv-'));
    path = join(readvDir, 'bytes');
    await writeFile(path, expected(0, FILE_SIZE));
  });
  afterAll(() => rm(readvDir, { recursive: true, force: true }));

  it('scatters one run of the file into the buffers in order', async () => {
    const source = await FileSource.open(path);
    const buffers = [new Uint8Array(5), new Uint8Array(0), new Uint8Array(700), new Uint8Array(1)];
    await source.readv(buffers, 123);
    await source.close();
    expect(concat(buffers)).toEqual(expected(123, 706));
  });

  it('reads more buffers than one preadv takes (IOV_MAX)', async () => {
    const source = await FileSource.open(path);
    const buffers = Array.from({ length: 2500 }, (_, i) => new Uint8Array(1 + (i % 3)));
    await source.readv(buffers, 17);
    await source.close();
    expect(concat(buffers)).toEqual(expected(17, 4999)); // 833 * (1 + 2 + 3) + 1
  });

  it('zero-fills past the end of the file, even inside a buffer', async () => {
    const source = await FileSource.open(path);
    const buffers = [new Uint8Array(30).fill(0xee), new Uint8Array(40).fill(0xee), new Uint8Array(10).fill(0xee)];
    await source.readv(buffers, FILE_SIZE - 50);
    expect(concat(buffers)).toEqual(expected(FILE_SIZE - 50, 80));
    const beyond = [new Uint8Array(8).fill(0xee), new Uint8Array(8).fill(0xee)];
    await source.readv(beyond, FILE_SIZE + 100);
    expect(concat(beyond)).toEqual(new Uint8Array(16));
    await source.close();
  });

  it('refuses a range that ends beyond 2^53', async () => {
    const source = await FileSource.open(path);
    await expect(source.readv([new Uint8Array(16)], Number.MAX_SAFE_INTEGER - 8)).rejects.toMatchObject({
      code: 'EOVERFLOW',
    });
    await source.close();
  });
});

describe('FileSource writes', () => {
  let writeDir: string;
  beforeAll(async () => {
    writeDir = await mkdtemp(join(tmpdir(), 'vdisk-file-source-write-'));
  });
  afterAll(() => rm(writeDir, { recursive: true, force: true }));

  it('writes positionally, gathers more buffers than one pwritev takes, and grows its size', async () => {
    const path = join(writeDir, 'grow');
    await writeFile(path, new Uint8Array(100));
    const source = await FileSource.open(path, { writable: true });
    expect(source.writable).toBe(true);
    await source.write(Uint8Array.of(1, 2, 3), 10);
    expect(source.size).toBe(100);
    // 2500 buffers: three pwritev calls of at most 1024, each continued where it stopped.
    const buffers = Array.from({ length: 2500 }, (_, i) => new Uint8Array(1 + (i % 3)).fill(i & 0xff));
    await source.writev(buffers, 200);
    expect(source.size).toBe(200 + 4999);
    const back = new Uint8Array(4999);
    await source.read(back, 200); // past the size seen at open: read since it grew
    expect(back).toEqual(concat(buffers));
    await source.flush();
    await source.close();
    const onDisk = new Uint8Array(await readFile(path));
    expect(onDisk.length).toBe(5199);
    expect(onDisk.subarray(10, 13)).toEqual(Uint8Array.of(1, 2, 3));
    expect(onDisk.subarray(100, 200)).toEqual(new Uint8Array(100));
    expect(onDisk.subarray(200)).toEqual(concat(buffers));
  });

  it('truncates, both ways', async () => {
    const path = join(writeDir, 'truncate');
    await writeFile(path, new Uint8Array(1000).fill(7));
    const source = await FileSource.open(path, { writable: true });
    await source.truncate(10);
    expect(source.size).toBe(10);
    await source.truncate(4096);
    const buffer = new Uint8Array(20);
    await source.read(buffer, 0);
    expect(buffer).toEqual(Uint8Array.from({ length: 20 }, (_, i) => (i < 10 ? 7 : 0)));
    await source.close();
    expect((await stat(path)).size).toBe(4096);
  });

  it('refuses writes, flush and truncate when opened read-only, and changes nothing', async () => {
    const path = join(writeDir, 'read-only');
    await writeFile(path, new Uint8Array(16).fill(1));
    const source = await FileSource.open(path);
    await expect(source.write(Uint8Array.of(9), 0)).rejects.toBeInstanceOf(ReadOnlyError);
    await expect(source.writev([Uint8Array.of(9)], 0)).rejects.toBeInstanceOf(ReadOnlyError);
    await expect(source.truncate(0)).rejects.toBeInstanceOf(ReadOnlyError);
    await expect(source.flush()).rejects.toBeInstanceOf(ReadOnlyError);
    await source.close();
    expect(new Uint8Array(await readFile(path))).toEqual(new Uint8Array(16).fill(1));
  });

  it('says the file is closed after close, not a bare EBADF', async () => {
    const path = join(writeDir, 'closed');
    await writeFile(path, new Uint8Array(16));
    const source = await FileSource.open(path, { writable: true });
    await source.close();
    await expect(source.read(new Uint8Array(1), 0)).rejects.toMatchObject({
      code: 'EINVAL',
      message: 'The file is closed',
    });
    await expect(source.write(Uint8Array.of(1), 0)).rejects.toMatchObject({ message: 'The file is closed' });
  });

  it('lets the operations in flight finish before it closes the descriptor, and starts none after', async () => {
    const path = join(writeDir, 'in-flight');
    const bytes = Uint8Array.from({ length: 1 << 20 }, (_, i) => i % 251);
    await writeFile(path, bytes);
    const source = await FileSource.open(path, { writable: true });
    // 2048 buffers: two preadv calls (IOV_MAX is 1024), the second after close was called.
    const buffers = Array.from({ length: 2048 }, () => new Uint8Array(512));
    const reading = source.readv(buffers, 0);
    const writing = source.write(Uint8Array.of(7), 5);
    const closing = source.close();
    await reading;
    await writing;
    await closing;
    expect(Buffer.concat(buffers).equals(Buffer.from(bytes))).toBe(true);
    expect(new Uint8Array(await readFile(path))[5]).toBe(7);
    await expect(source.readv([new Uint8Array(1)], 0)).rejects.toMatchObject({ message: 'The file is closed' });
  });

  it('creates a new file, mode 600 by default, and refuses an existing one or a symlink, leaving it alone', async () => {
    const path = join(writeDir, 'new.img');
    const source = await FileSource.create(path);
    expect(source.size).toBe(0);
    await source.write(Uint8Array.of(5), 3);
    await source.close();
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(new Uint8Array(await readFile(path))).toEqual(Uint8Array.of(0, 0, 0, 5));

    await expect(FileSource.create(path)).rejects.toMatchObject({ constructor: SystemError, message: 'File exists' });
    expect(new Uint8Array(await readFile(path))).toEqual(Uint8Array.of(0, 0, 0, 5));
    const link = join(writeDir, 'link.img');
    await symlink(join(writeDir, 'elsewhere'), link);
    await expect(FileSource.create(link)).rejects.toMatchObject({ message: 'File exists' });
    await expect(stat(join(writeDir, 'elsewhere'))).rejects.toThrow();

    const shared = await FileSource.create(join(writeDir, 'shared.img'), { mode: 0o640 });
    await shared.close();
    const umask = process.umask();
    expect((await stat(join(writeDir, 'shared.img'))).mode & 0o777).toBe(0o640 & ~umask);
  });
});

describe('block devices', () => {
  it("decodes a dev_t as glibc's major() and minor() do", () => {
    const makedev = (major: bigint, minor: bigint) =>
      ((major & 0xfffn) << 8n) | ((major & ~0xfffn) << 32n) | (minor & 0xffn) | ((minor & ~0xffn) << 12n);
    for (const [major, minor] of [
      [8n, 1n],
      [259n, 0n],
      [254n, 65537n],
      [4095n, 255n],
      [70000n, 1048575n],
    ] as const) {
      expect(deviceNumbers(makedev(major, minor))).toEqual({ major, minor });
    }
  });

  it("reads a block device's size from the kernel by its device number", async () => {
    // /sys/class/block/NAME/size names the device; blockDeviceSize finds it by major:minor.
    const names = await readdir('/sys/class/block').catch(() => [] as string[]);
    let checked = 0;
    for (const name of names) {
      const node = await stat(join('/dev', name), { bigint: true }).catch(() => undefined);
      if (!node?.isBlockDevice()) continue;
      const sectors = Number((await readFile(join('/sys/class/block', name, 'size'), 'utf8')).trim());
      expect(await blockDeviceSize(node.rdev), name).toBe(sectors * 512);
      checked++;
    }
    if (process.platform === 'linux' && names.length > 0) expect(checked).toBeGreaterThan(0);
  });

  // Node's stat says 0 bytes for a block device: the size comes from /sys. Any block device
  // this machine lets us open read-only, and that is not empty, will do; nothing is written.
  const device = ['/dev/vda', '/dev/sda', '/dev/nvme0n1', '/dev/zram0', '/dev/loop0'].find((path) => {
    try {
      return Number(execFileSync('blockdev', ['--getsize64', path], { encoding: 'utf8', stdio: 'pipe' })) > 0;
    } catch {
      return false;
    }
  });
  it.skipIf(device === undefined)(`knows the size of a block device (${device ?? 'none readable here'})`, async () => {
    const path = device as string;
    const expectedSize = Number(execFileSync('blockdev', ['--getsize64', path], { encoding: 'utf8' }).trim());
    const source = await FileSource.open(path);
    try {
      expect(source.size).toBe(expectedSize);
    } finally {
      await source.close();
    }
  });
});
