import { readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry, VdiskError } from '@vdisk/core';
import { openFile } from '@vdisk/core/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BochsDriver } from './bochs-driver.js';
import { BoundedSource } from './bounded-source.fixture.js';
import { HOSTILE_IMAGES } from './testing/index.js';

// Opening hostile files: a failed open leaks no file descriptor, and an image that
// claims 8 TiB opens and reads in memory bounded by the 4 MiB catalog and the request.

const registry = new Registry([new BochsDriver()]);
const openFds = () => readdirSync('/proc/self/fd').length;
let dir: string;
const refused = HOSTILE_IMAGES.filter((c) => typeof c.qemu.open === 'string');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vdisk-hostile-files-'));
  for (const c of refused) await writeFile(join(dir, `${c.name}.img`), c.bytes());
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe.skipIf(process.platform !== 'linux')('failed opens', () => {
  it('leak no file descriptor over thousands of bad images', async () => {
    // Warm up once, so that whatever Node opens lazily (the thread pool's pipes) is open
    // before counting.
    await openFile(registry, join(dir, `${refused[0]?.name}.img`), { format: 'bochs' }).catch(() => {});
    const before = openFds();
    let failures = 0;
    for (let round = 0; round < 100; round++) {
      for (const c of refused) {
        await openFile(registry, join(dir, `${c.name}.img`), { format: 'bochs' }).then(
          () => expect.unreachable(`${c.name} opened`),
          (error) => {
            expect(error).toBeInstanceOf(VdiskError);
            failures++;
          },
        );
      }
    }
    expect(failures).toBeGreaterThanOrEqual(2000);
    expect(openFds()).toBe(before);
  });
});

describe('an image that claims 8 TiB', () => {
  it('opens reading the header and the 4 MiB catalog, and a read costs what it asks', async () => {
    const claim = HOSTILE_IMAGES.find((c) => c.name === 'disk-8tib-header-only');
    const source = new BoundedSource(claim?.bytes() as Uint8Array);
    expect(source.size).toBe(512);
    const device = await registry.open(source, { format: 'bochs' });
    expect(device.virtualSize).toBe(8 * 2 ** 40);
    expect(source.largest).toBe(4 * 1024 * 1024);
    expect(source.total).toBe(512 + 4 * 1024 * 1024);

    source.largest = 0;
    source.total = 0;
    source.bound = 4096;
    const tail = await device.read(device.virtualSize - 4096, 4096);
    expect(tail).toEqual(new Uint8Array(4096));
    // No read at all: the slot starts past the end of the file, so its bits are zeros.
    expect(source.total).toBe(0);
    // Mapping costs the bitmap bits of the extents it covers, not a step per sector.
    source.bound = 2048;
    const window = 2 ** 30;
    const runs = await device.blockStatus(device.virtualSize - window, window);
    expect(runs).toEqual([{ offset: device.virtualSize - window, length: window, data: false }]);
    await device.close();
  });
});
