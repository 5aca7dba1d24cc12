import { describe, expect, it } from 'vitest';
import { FileRuns, zeroBuffers } from './file-runs.js';
import { MemorySource } from './memory-source.js';

describe('FileRuns', () => {
  it('joins a piece that starts where the last run ends, and starts a run elsewhere', () => {
    const runs = new FileRuns();
    runs.add(0, [new Uint8Array(512)]);
    runs.add(512, [new Uint8Array(100), new Uint8Array(412)]);
    runs.add(2048, [new Uint8Array(512)]);
    runs.add(2560, []); // nothing to do
    expect(runs.runs.map(({ position, length, buffers }) => [position, length, buffers.length])).toEqual([
      [0, 1024, 3],
      [2048, 512, 1],
    ]);
  });

  it('writes each run with one writev, and reads it back into the buffers', async () => {
    const source = new MemorySource(new Uint8Array(4096));
    const calls: Array<[number, number]> = [];
    const inner = source.writev.bind(source);
    source.writev = (buffers, position) => {
      calls.push([position, buffers.length]);
      return inner(buffers, position);
    };
    const out = new FileRuns();
    out.add(512, [Uint8Array.of(1, 2), Uint8Array.of(3)]);
    out.add(515, [Uint8Array.of(4)]);
    out.add(3000, [Uint8Array.of(9), Uint8Array.of(8)]);
    await out.write(source);
    expect(calls).toEqual([
      [512, 3],
      [3000, 2],
    ]);
    const a = new Uint8Array(2);
    const b = new Uint8Array(2);
    const back = new FileRuns();
    back.add(512, [a]);
    back.add(514, [b]);
    await back.read(source);
    expect([...a, ...b]).toEqual([1, 2, 3, 4]);
  });

  it('gives zeros as views of one chunk, never a buffer of the whole length', () => {
    const chunk = new Uint8Array(1024);
    const views = zeroBuffers(2500, chunk);
    expect(views.map((v) => v.length)).toEqual([1024, 1024, 452]);
    expect(views.every((v) => v.buffer === chunk.buffer)).toBe(true);
  });
});
