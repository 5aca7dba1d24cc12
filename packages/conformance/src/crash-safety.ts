import { type BackingOpener, type BlockDriver, type DriverImage, MemorySource, Registry } from '@vdisk/core';
import { PowerLossSource, SeededRandom } from '@vdisk/core/testing';

const SECTOR = 512;

export interface CrashSafetyOptions {
  /** A writable driver with `create`. */
  driver: BlockDriver;
  /** The new image's virtual size, and the creation options. */
  virtualSize: number;
  createOptions?: Record<string, string>;
  /** Operations of the seeded script (writes, zeroes, flushes). Default 24. */
  operations?: number;
  /** The longest write, in sectors. Default 96. */
  maxSectors?: number;
  seed?: number;
  /** Random subsets of pending writes tried per crash point, besides the durable and the whole state. Default 4. */
  subsets?: number;
  /**
   * A parent for the new image, as the bytes of an image file of the same driver's format:
   * the image is created over it (`CreateOptions.backing`), it is every crash state's
   * backing file, and the model starts as its disk (what an unwritten sector reads as).
   */
  parent?: Uint8Array;
}

export interface CrashSafetyResult {
  /** Crash states opened, checked and read. */
  states: number;
  /** Points of the source's log that were tried. */
  points: number;
}

/** One operation of the script and what it did to the model. */
interface Step {
  kind: 'write' | 'zero' | 'flush';
  /** The source's log length when the operation was issued, and when it resolved. */
  start: number;
  end: number;
  /** For writes and zeroes: the first sector and the sectors' new values. */
  sector?: number;
  values?: Uint8Array;
  /** For flushes: the disk as the model had it when the flush was issued. */
  snapshot?: Uint8Array;
}

/**
 * Fault injection for a format's writes, after issue 9's rule: a crash at any point leaves
 * an image that opens and checks clean but for leaks, where every sector holds its value at
 * the last completed flush or a value written after that flush was issued. A seeded script
 * runs on a `PowerLossSource` through the driver's own callbacks (one request at a time);
 * then, at every point of the source's log, the states a power loss could leave are opened,
 * checked and read whole, and each sector is compared with an independent model (the bytes
 * the script wrote), never with the driver's own answers. Throws on the first violation.
 */
export async function checkCrashSafety(options: CrashSafetyOptions): Promise<CrashSafetyResult> {
  const { driver, virtualSize } = options;
  const create = driver.create;
  const write = driver.write;
  if (!create || !write) throw new Error(`Driver ${driver.name} cannot create and write images`);
  const registry = new Registry([driver]);
  const parentBytes = options.parent;
  // Every open of the image finds the parent, by whatever name the image gives it.
  const backingOpener: BackingOpener | undefined = parentBytes && {
    identity: 'image',
    open: async () => ({ source: new MemorySource(parentBytes.slice()), filename: 'parent', identity: 'parent' }),
  };
  const parent = parentBytes && (await registry.open(new MemorySource(parentBytes.slice()), { format: driver.name }));

  const empty = new MemorySource();
  await create.call(driver, empty, {
    virtualSize,
    options: options.createOptions ?? {},
    ...(parent ? { backing: { device: parent, filename: 'parent' } } : {}),
  });
  const source = new PowerLossSource(empty.bytes.slice(), { seed: options.seed ?? 1, maxDelay: 0 });
  const device = await registry.open(source, { format: driver.name, writable: true, backingOpener });
  const image: DriverImage = device.image;
  const size = device.virtualSize;
  const sectors = size / SECTOR;
  const model = new Uint8Array(size);
  if (parent) {
    model.set(await parent.read(0, Math.min(size, parent.virtualSize)));
    await parent.close();
  }
  const initial = model.slice();
  const steps: Step[] = [];
  const random = new SeededRandom(options.seed ?? 1);
  const maxSectors = Math.min(options.maxSectors ?? 96, sectors);

  for (let n = 0; n < (options.operations ?? 24); n++) {
    const roll = random.next();
    const start = source.point;
    if (roll < 0.15) {
      await (driver.flush ? driver.flush.call(driver, image) : source.flush());
      steps.push({ kind: 'flush', start, end: source.point, snapshot: model.slice() });
      continue;
    }
    const count = 1 + Math.floor(random.next() * maxSectors);
    const sector = Math.floor(random.next() * (sectors - count + 1));
    const zero = roll < 0.3 && driver.zero !== undefined;
    const values = new Uint8Array(count * SECTOR);
    if (!zero) for (let i = 0; i < values.length; i++) values[i] = (n * 37 + i * 13 + 1) % 251 || 7;
    if (zero) await driver.zero?.call(driver, image, sector * SECTOR, values.length, { mayUnmap: true });
    else await write.call(driver, image, sector * SECTOR, [values]);
    model.set(values, sector * SECTOR);
    steps.push({ kind: zero ? 'zero' : 'write', start, end: source.point, sector, values });
  }
  await device.close();

  let states = 0;
  const points = source.operations.length + 1;
  for (let point = 0; point < points; point++) {
    // The last flush that completed by `point`, and the writes issued after it began.
    let durable: Uint8Array = initial;
    let after = 0;
    steps.forEach((step, index) => {
      if (step.kind === 'flush' && step.end <= point) {
        durable = step.snapshot as Uint8Array;
        after = index + 1;
      }
    });
    const candidates = steps.slice(after).filter((s) => s.kind !== 'flush' && s.start < point);
    for (const state of source.crashStates(point, { seed: point, subsets: options.subsets ?? 4 })) {
      states++;
      const where = `crash at point ${point} (${state.kind})`;
      const crashed = await registry.open(new MemorySource(state.bytes), { format: driver.name, backingOpener });
      try {
        if (crashed.canCheck) {
          const report = await crashed.check();
          const corruption = report.problems.find((p) => p.kind === 'corruption');
          if (corruption) throw new Error(`${where}: check finds corruption: ${corruption.message}`);
        }
        const disk = await crashed.read(0, crashed.virtualSize);
        for (let s = 0; s < sectors; s++) {
          const got = disk.subarray(s * SECTOR, (s + 1) * SECTOR);
          if (sameBytes(got, durable.subarray(s * SECTOR, (s + 1) * SECTOR))) continue;
          const allowed = candidates.some((step) => {
            const first = step.sector as number;
            if (s < first || s >= first + (step.values as Uint8Array).length / SECTOR) return false;
            return sameBytes(got, (step.values as Uint8Array).subarray((s - first) * SECTOR, (s - first + 1) * SECTOR));
          });
          if (!allowed) throw new Error(`${where}: sector ${s} holds bytes no acknowledged or pending write put there`);
        }
      } finally {
        await crashed.close();
      }
    }
  }
  return { states, points };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
