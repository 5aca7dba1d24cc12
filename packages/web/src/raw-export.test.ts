import { AbortedError, createRegistry, MemorySource } from '@vdisk/core';
import { bochsModule } from '@vdisk/format-bochs';
import { buildBochsImage } from '@vdisk/format-bochs/testing';
import { rawModule } from '@vdisk/format-raw';
import { describe, expect, it } from 'vitest';
import { exportRaw, type RawSink } from './raw-export.js';

/** A sink that keeps every write, and the file those writes make. */
class RecordingSink implements RawSink {
  writes: Array<{ position: number; length: number }> = [];
  file: Uint8Array | undefined;
  aborted = false;
  #parts: Array<{ position: number; bytes: Uint8Array }> = [];
  async write(position: number, bytes: Uint8Array): Promise<void> {
    this.writes.push({ position, length: bytes.length });
    this.#parts.push({ position, bytes: bytes.slice() });
  }
  async close(size: number): Promise<void> {
    this.file = new Uint8Array(size);
    for (const { position, bytes } of this.#parts) this.file.set(bytes, position);
  }
  async abort(): Promise<void> {
    this.aborted = true;
  }
}

const registry = createRegistry(rawModule, bochsModule);
const sectors = (count: number, byte: number) => new Uint8Array(count * 512).fill(byte);

describe('exportRaw', () => {
  const disk = 64 * 4096;
  const writes = [
    { offset: 4096, data: sectors(8, 7) },
    { offset: 3 * 4096, data: new Uint8Array(4096) }, // an allocated extent of zeros
    { offset: 10 * 4096 + 512, data: sectors(2, 9) },
  ];
  const open = () => registry.open(new MemorySource(buildBochsImage({ diskSize: disk, writes })));

  it('writes the data only, skipping holes and zero blocks, and gives the disk byte for byte', async () => {
    const device = await open();
    const sink = new RecordingSink();
    const progress: number[] = [];
    await exportRaw(device, sink, { onProgress: (done) => progress.push(done) });
    expect(sink.writes).toEqual([
      { position: 4096, length: 4096 },
      { position: 10 * 4096, length: 4096 },
    ]);
    expect(Buffer.from(sink.file as Uint8Array).equals(await device.read(0, disk))).toBe(true);
    expect(progress.at(-1)).toBe(disk);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    await device.close();
  });

  it('copies a raw disk of any size exactly, in ascending writes', async () => {
    const bytes = new Uint8Array(4 * 1024 * 1024 + 4096 + 700).fill(7);
    const device = await registry.open(new MemorySource(bytes), { format: 'raw' });
    const sink = new RecordingSink();
    await exportRaw(device, sink);
    const positions = sink.writes.map((w) => w.position);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    // Buffer.equals: vitest's toEqual compares megabytes of a typed array one element at a time.
    expect(Buffer.from(sink.file as Uint8Array).equals(bytes)).toBe(true);
  });

  it('stops at a cancel, aborting the sink', async () => {
    const device = await open();
    const sink = new RecordingSink();
    const controller = new AbortController();
    const run = exportRaw(device, sink, {
      signal: controller.signal,
      onProgress: () => controller.abort(),
    });
    await expect(run).rejects.toBeInstanceOf(AbortedError);
    expect(sink.aborted).toBe(true);
    expect(sink.file).toBeUndefined();
  });
});
