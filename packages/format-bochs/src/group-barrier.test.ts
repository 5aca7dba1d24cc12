import { describe, expect, it } from 'vitest';
import { GroupBarrier } from './group-barrier.js';

/** A flush whose completions the test releases one by one, recording when each began. */
function controlledFlush() {
  const started: number[] = [];
  const pending: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  let clock = 0;
  const flush = () =>
    new Promise<void>((resolve, reject) => {
      started.push(clock);
      pending.push({ resolve, reject });
    });
  return {
    flush,
    started,
    tick: () => clock++,
    finish: async (error?: Error) => {
      const next = pending.shift();
      if (error) next?.reject(error);
      else next?.resolve();
      for (let i = 0; i < 5; i++) await Promise.resolve();
    },
  };
}

describe('GroupBarrier', () => {
  it('makes a caller who finds a flush running wait for the next one, which all such callers share', async () => {
    const control = controlledFlush();
    const barrier = new GroupBarrier(control.flush);
    const done: string[] = [];
    void barrier.wait().then(() => done.push('a'));
    control.tick();
    void barrier.wait().then(() => done.push('b'));
    void barrier.wait().then(() => done.push('c'));
    expect(control.started).toEqual([0]);
    await control.finish(); // the first flush began before b and c asked: it covers only a
    expect(done).toEqual(['a']);
    expect(control.started).toEqual([0, 1]);
    await control.finish();
    expect(done).toEqual(['a', 'b', 'c']);
    expect(control.started).toHaveLength(2);
  });

  it('gives a failed flush to its callers only; the queued ones get a flush of their own', async () => {
    const control = controlledFlush();
    const barrier = new GroupBarrier(control.flush);
    const first = barrier.wait();
    const second = barrier.wait();
    await control.finish(new Error('EIO'));
    await expect(first).rejects.toThrow('EIO');
    await control.finish();
    await expect(second).resolves.toBeUndefined();
  });

  it('is a no-op without a flush', async () => {
    await expect(new GroupBarrier(undefined).wait()).resolves.toBeUndefined();
  });
});
