/**
 * Fault injection for the rest of the Bochs family: sparse writes, redolog writes and
 * commit. A script of writes and flushes runs on a PowerLossSource; at every point of its
 * log, the states a power loss could leave are opened, checked and read against a model
 * kept here (which values each sector may hold), never against the driver.
 */
import {
  type BackingOpener,
  type BlockDevice,
  type BlockDriver,
  type ByteSource,
  commitDevice,
  MemorySource,
  Registry,
} from '@vdisk/core';
import { PowerLossSource } from '@vdisk/core/testing';
import { describe, expect, it } from 'vitest';
import { BochsDriver } from './bochs-driver.js';
import { rawStandIn } from './raw-stand-in.fixture.js';
import { BochsRedologDriver } from './redolog-driver.js';
import { fatTimestamp } from './redolog-header.js';
import { BochsSparseDriver } from './sparse-driver.js';
import { buildSparseImage } from './testing/sparse-builder.js';

const SECTOR = 512;

/** A raw driver that writes, for a commit's base. */
function writableRaw(): BlockDriver {
  let target: ByteSource | undefined;
  return {
    ...rawStandIn,
    async open(source, options) {
      target = source;
      return (rawStandIn.open as BlockDriver['open'])(source, options);
    },
    async write(_image, offset, buffers) {
      let at = offset;
      for (const buffer of buffers) {
        await target?.write?.(buffer, at);
        at += buffer.length;
      }
    },
    async flush() {
      await target?.flush?.();
    },
  };
}

/** One step of a script: write `count` sectors from `lba` filled with `value`, or flush. */
type Step = { kind: 'write'; lba: number; count: number; value: number; offsetIn?: number } | { kind: 'flush' };

/**
 * The model: per sector, its history of values. A state left at `point` is fine when every
 * sector holds a value it had at or after the last flush completed before `point`, up to
 * the writes begun by then.
 */
class SectorModel {
  readonly history = new Map<number, Array<{ value: number; at: number }>>();
  constructor(readonly initial: (lba: number) => number) {}
  record(lba: number, value: number, at: number): void {
    const list = this.history.get(lba) ?? [{ value: this.initial(lba), at: -1 }];
    list.push({ value, at });
    this.history.set(lba, list);
  }
  /** The values `lba` may hold at a crash `point`, given the last durable step's start. */
  allowed(lba: number, durableAt: number, point: number): Set<number> {
    const list = this.history.get(lba) ?? [{ value: this.initial(lba), at: -1 }];
    const result = new Set<number>();
    let lastDurable = list[0] as { value: number };
    for (const entry of list) if (entry.at < durableAt) lastDurable = entry;
    result.add(lastDurable.value);
    for (const entry of list) if (entry.at >= durableAt && entry.at < point) result.add(entry.value);
    return result;
  }
}

interface ScriptResult {
  /** For each step: the log point when it began, and when it ended. */
  spans: Array<{ begin: number; end: number; step: Step }>;
}

async function runScript(
  device: BlockDevice,
  source: PowerLossSource,
  steps: Step[],
  model: SectorModel,
): Promise<ScriptResult> {
  const spans: ScriptResult['spans'] = [];
  for (const step of steps) {
    const begin = source.point;
    if (step.kind === 'flush') await device.flush();
    else {
      await device.write(step.lba * SECTOR, new Uint8Array(step.count * SECTOR).fill(step.value));
      for (let i = 0; i < step.count; i++) model.record(step.lba + i, step.value, begin);
    }
    spans.push({ begin, end: source.point, step });
  }
  return { spans };
}

/** The point from which writes are not durable: the begin of the last flush step completed by `point`. */
function durableFrom(spans: ScriptResult['spans'], point: number): number {
  let at = 0;
  for (const span of spans) if (span.step.kind === 'flush' && span.end <= point) at = span.end;
  return at;
}

const SCRIPT: Step[] = [
  { kind: 'write', lba: 0, count: 1, value: 0x11 },
  { kind: 'write', lba: 70, count: 2, value: 0x12 }, // a new page / extent
  { kind: 'flush' },
  { kind: 'write', lba: 1, count: 1, value: 0x13 }, // in place
  { kind: 'write', lba: 63, count: 4, value: 0x14 }, // across pages 0 and 1 (64 sectors each)
  { kind: 'write', lba: 200, count: 1, value: 0x15 },
  { kind: 'flush' },
  { kind: 'write', lba: 70, count: 1, value: 0x16 },
  { kind: 'write', lba: 300, count: 1, value: 0x17 },
];

const touched = (steps: Step[]) => {
  const lbas = new Set<number>();
  for (const step of steps) if (step.kind === 'write') for (let i = 0; i < step.count; i++) lbas.add(step.lba + i);
  return [...lbas].sort((a, b) => a - b);
};

async function checkStates(
  source: PowerLossSource,
  spans: ScriptResult['spans'],
  model: SectorModel,
  open: (bytes: Uint8Array) => Promise<BlockDevice>,
): Promise<number> {
  let states = 0;
  const lbas = touched(SCRIPT);
  for (let point = 0; point <= source.point; point++) {
    const durableAt = durableFrom(spans, point);
    for (const state of source.crashStates(point, { seed: point, subsets: 4 })) {
      states++;
      const device = await open(state.bytes);
      try {
        const report = await device.check();
        expect(
          report.problems.filter((p) => p.kind === 'corruption'),
          `point ${point} ${state.kind}`,
        ).toEqual([]);
        for (const lba of lbas) {
          const sector = await device.read(lba * SECTOR, SECTOR);
          const value = sector[0] as number;
          expect(
            sector.every((b) => b === value),
            `sector ${lba} is torn at point ${point}`,
          ).toBe(true);
          expect(
            model.allowed(lba, durableAt, point).has(value),
            `sector ${lba} = ${value} at point ${point} (${state.kind})`,
          ).toBe(true);
        }
      } finally {
        await device.close();
      }
    }
  }
  return states;
}

describe('power loss: bochs-sparse writes', () => {
  it('every state a power loss leaves opens, checks clean but for leaks, and reads a value each sector had', async () => {
    const registry = new Registry([new BochsSparseDriver()]);
    // 32 KiB pages: 64 sectors each.
    const fresh = buildSparseImage({ diskSize: 1 << 20 }).subarray(0, 32768);
    const source = new PowerLossSource(fresh, { seed: 3, maxDelay: 0 });
    const device = await registry.open(source, { format: 'bochs-sparse', writable: true });
    const model = new SectorModel(() => 0);
    const { spans } = await runScript(device, source, SCRIPT, model);
    await device.close();
    const states = await checkStates(source, spans, model, (bytes) =>
      registry.open(new MemorySource(bytes), { format: 'bochs-sparse' }),
    );
    expect(states).toBeGreaterThan(50);
  });
});

describe('power loss: bochs-redolog writes and commit', () => {
  const DISK = 1 << 20;
  const baseValue = (lba: number) => (lba % 200) + 30;
  const baseBytes = () => new Uint8Array(DISK).map((_, i) => baseValue(Math.floor(i / SECTOR)));
  const emptyRedolog = async () => {
    const target = new PowerLossSource();
    await new BochsRedologDriver().create(target, { virtualSize: DISK, options: {} });
    return target.bytes();
  };
  /** The base as a parent: read-only, and closing the redolog leaves the test's source open. */
  const opener = (base: ByteSource & { modifiedTime?(): Promise<Date> }): BackingOpener => ({
    identity: 'top',
    async open() {
      const source: ByteSource & { modifiedTime?(): Promise<Date> } = {
        get size() {
          return base.size;
        },
        read: (buffer, position) => base.read(buffer, position),
        close: async () => {},
      };
      if (base.modifiedTime) source.modifiedTime = () => (base.modifiedTime as () => Promise<Date>).call(base);
      return { source, filename: 'disk.img', identity: 'disk.img' };
    },
  });
  const registry = () => new Registry([rawStandIn, new BochsDriver(), new BochsRedologDriver()]);

  it('writes: every state opens over the untouched base and reads a value each sector had', async () => {
    const base = baseBytes();
    const source = new PowerLossSource(await emptyRedolog(), { seed: 5, maxDelay: 0 });
    const reg = registry();
    const device = await reg.open(source, {
      filename: 'disk.img.redolog',
      writable: true,
      options: { 'base-format': 'raw' },
      backingOpener: opener(new MemorySource(base)),
    });
    const model = new SectorModel(baseValue);
    const { spans } = await runScript(device, source, SCRIPT, model);
    await device.close();
    expect(Buffer.from(base).equals(Buffer.from(baseBytes()))).toBe(true); // the base never changes
    const states = await checkStates(source, spans, model, (bytes) =>
      reg.open(new MemorySource(bytes), {
        filename: 'disk.img.redolog',
        options: { 'base-format': 'raw' },
        backingOpener: opener(new MemorySource(base)),
      }),
    );
    expect(states).toBeGreaterThan(50);
  });

  it('commit: interrupted at any point of the base, a rerun passes the coherency check and gives the same base', async () => {
    // The base's mtime moves with every write (2 s, Bochs's resolution), as a file's would.
    class DatedSource extends PowerLossSource {
      writes = 0;
      override async writev(buffers: readonly Uint8Array[], position: number): Promise<void> {
        this.writes++;
        return super.writev(buffers, position);
      }
      async modifiedTime(): Promise<Date> {
        return new Date(Date.UTC(2026, 0, 1, 12, 0, 0) + 2000 * this.writes);
      }
    }
    const reg = new Registry([writableRaw(), new BochsRedologDriver()]);
    const redologOf = async (bytes: Uint8Array, base: ByteSource) =>
      reg.open(new PowerLossSource(bytes, { maxDelay: 0 }), {
        filename: 'disk.img.redolog',
        writable: true,
        options: { 'base-format': 'raw' },
        backingOpener: opener(base),
      });

    // A redolog written over the base, stamped with the base's time as Bochs does.
    const base0 = new DatedSource(baseBytes(), { maxDelay: 0 });
    const writer = await redologOf(await emptyRedolog(), base0);
    for (const [lba, value] of [
      [3, 0xa1],
      [64, 0xa2],
      [65, 0xa3],
      [1500, 0xa4],
    ] as const) {
      await writer.write(lba * SECTOR, new Uint8Array(SECTOR).fill(value));
    }
    await writer.close();
    const redolog = (writer.source as PowerLossSource).bytes();
    expect(new DataView(redolog.buffer).getUint32(0x54, true)).toBe(fatTimestamp(await base0.modifiedTime()));
    const expected = baseBytes();
    for (const [lba, value] of [
      [3, 0xa1],
      [64, 0xa2],
      [65, 0xa3],
      [1500, 0xa4],
    ] as const)
      expected.fill(value, lba * SECTOR, (lba + 1) * SECTOR);

    // The commit, logged on the base and on the redolog.
    const base = new DatedSource(baseBytes(), { maxDelay: 0 });
    const top = await redologOf(redolog, base0);
    const topSource = top.source as PowerLossSource;
    const baseDevice = await reg.open(base, { format: 'raw', writable: true });
    await commitDevice(top, baseDevice);
    await top.close();
    expect(Buffer.from(base.bytes()).equals(Buffer.from(expected))).toBe(true);
    // The redolog's timestamp reached 0 durably before the base got its first write.
    expect(new DataView(topSource.durable().buffer).getUint32(0x54, true)).toBe(0);

    let reruns = 0;
    for (let point = 0; point <= base.point; point++) {
      for (const state of base.crashStates(point, { seed: point, subsets: 3 })) {
        reruns++;
        const crashedBase = new DatedSource(state.bytes, { maxDelay: 0 });
        crashedBase.writes = 7 + point; // the base changed since the redolog was stamped
        const again = await redologOf(topSource.durable(), crashedBase);
        const againBase = await reg.open(crashedBase, { format: 'raw', writable: true });
        await commitDevice(again, againBase);
        await again.close();
        expect(Buffer.from(crashedBase.bytes()).equals(Buffer.from(expected)), `point ${point}`).toBe(true);
      }
    }
    expect(reruns).toBeGreaterThan(5);
    // Without the timestamp at 0, a rerun would stop at Bochs's check.
    const stamped = (writer.source as PowerLossSource).bytes();
    const moved = new DatedSource(baseBytes(), { maxDelay: 0 });
    moved.writes = 99;
    await expect(redologOf(stamped, moved)).rejects.toThrow('unexpected modification time of the r/o disk');
  });
});
