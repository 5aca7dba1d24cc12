import { describe, expect, it } from 'vitest';
import { type CrashState, PowerLossSource } from './power-loss-source.js';

const filled = (length: number, value: number) => new Uint8Array(length).fill(value);
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const all = (states: Iterable<CrashState>) => [...states];

describe('PowerLossSource', () => {
  it('reads what was written, grows with writes, and logs each write and barrier in order', async () => {
    const source = new PowerLossSource(filled(512, 1));
    await source.write(filled(4, 2), 510);
    await source.flush();
    await source.writev([filled(2, 3), filled(2, 4)], 1000);
    expect(source.size).toBe(1004);
    const buffer = new Uint8Array(8);
    await source.read(buffer, 508);
    expect([...buffer]).toEqual([1, 1, 2, 2, 2, 2, 0, 0]);
    expect(source.operations.map((op) => op.kind)).toEqual(['write', 'flush-start', 'flush-done', 'write']);
    expect(source.bytes().subarray(1000)).toEqual(Uint8Array.of(3, 3, 4, 4));
  });

  it('makes durable only what a completed barrier covered', async () => {
    const source = new PowerLossSource(filled(1024, 0), { maxDelay: 0 });
    await source.write(filled(512, 1), 0);
    const flushing = source.flush(); // asked for now: covers the write above only
    const racing = source.write(filled(512, 2), 512);
    expect(source.durable()).toEqual(filled(1024, 0)); // the barrier has not completed
    await Promise.all([flushing, racing]);
    const durable = source.durable();
    expect(durable.subarray(0, 512)).toEqual(filled(512, 1));
    expect(durable.subarray(512)).toEqual(filled(512, 0));
    // Before the barrier completed, the first write was still pending.
    expect(source.durableCut(2)).toBe(0);
  });

  it('never applies a writev as one unit: every subset of its sectors can land', async () => {
    const source = new PowerLossSource(filled(1536, 0), { maxDelay: 0 });
    await source.writev([filled(512, 1), filled(1024, 2)], 0);
    expect(source.pendingPieces()).toBe(3);
    const states = all(source.crashStates(source.point, { subsets: 6 }));
    const landed = new Set(states.map((s) => [0, 512, 1024].map((at) => (s.bytes[at] === 0 ? '-' : 'x')).join('')));
    expect([...landed].sort()).toEqual(['---', '--x', '-x-', '-xx', 'x--', 'x-x', 'xx-', 'xxx']);
  });

  it('leaves a sector written twice since the barrier as the older state or either version, never a blend', async () => {
    const source = new PowerLossSource(filled(512, 9), { maxDelay: 0 });
    await source.flush();
    await source.write(filled(512, 1), 0);
    await source.write(filled(512, 2), 0);
    const seen = new Set(all(source.crashStates(source.point, { subsets: 100 })).map((s) => hex(s.bytes)));
    expect(seen).toEqual(new Set([hex(filled(512, 9)), hex(filled(512, 1)), hex(filled(512, 2))]));
  });

  it('splits writes at the file sectors they cross: a 4-byte write in one sector is one piece', async () => {
    const source = new PowerLossSource(filled(2048, 0), { maxDelay: 0 });
    await source.write(filled(4, 1), 100);
    await source.write(filled(8, 1), 508); // crosses into sector 1
    await source.write(filled(1024, 1), 1024);
    expect(source.pendingPieces()).toBe(1 + 2 + 2);
  });

  it('treats a truncate as one piece, and can leave a grown file whose missing sectors read as zeros', async () => {
    const source = new PowerLossSource(filled(2048, 5), { maxDelay: 0 });
    await source.flush();
    await source.truncate(1024);
    await source.write(filled(512, 7), 4096);
    const sizes = new Set(all(source.crashStates(source.point, { subsets: 50 })).map((s) => s.bytes.length));
    // no truncate and no write; truncated only; the write (with or without the truncate)
    expect(sizes).toEqual(new Set([2048, 1024, 4608]));
    const grown = new PowerLossSource(filled(512, 0), { maxDelay: 0 });
    for (let i = 1; i <= 8; i++) await grown.write(filled(512, i), 512 * i);
    const states = all(grown.crashStates(grown.point, { subsets: 64, seed: 3 }));
    const zeroTail = states.find((s) => s.bytes.length === 4608 && s.bytes[4096] === 0);
    expect(zeroTail).toBeDefined();
  });

  it('is deterministic for a seed, and gives different interleavings for different seeds', async () => {
    async function run(seed: number) {
      const source = new PowerLossSource(filled(4096, 0), { seed });
      await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((i) => source.write(filled(512, i + 1), 512 * i)));
      return source.operations.map((op) => (op.kind === 'write' ? op.position / 512 : -1)).join(',');
    }
    expect(await run(5)).toBe(await run(5));
    const orders = new Set(await Promise.all([1, 2, 3, 4, 5, 6].map(run)));
    expect(orders.size).toBeGreaterThan(1);
    const source = new PowerLossSource(filled(4096, 0), { maxDelay: 0 });
    for (let i = 0; i < 8; i++) await source.write(filled(512, i + 1), 512 * i);
    const a = all(source.crashStates(8, { seed: 9, subsets: 20 })).map((s) => hex(s.bytes));
    const b = all(source.crashStates(8, { seed: 9, subsets: 20 })).map((s) => hex(s.bytes));
    expect(a).toEqual(b);
    expect(new Set(a).size).toBeGreaterThan(10);
  });

  it('refuses a crash point outside its log', () => {
    const source = new PowerLossSource();
    expect(() => source.crashStates(1).next()).toThrow('outside the log');
  });
});
