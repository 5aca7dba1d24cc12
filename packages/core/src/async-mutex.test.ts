import { describe, expect, it } from 'vitest';
import { AsyncMutex } from './async-mutex.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('AsyncMutex', () => {
  it('grants the lock at once when free', async () => {
    const mutex = new AsyncMutex();
    await mutex.lock();
    expect(mutex.locked).toBe(true);
    mutex.unlock();
    expect(mutex.locked).toBe(false);
  });

  it('hands the lock to waiters in FIFO order', async () => {
    const mutex = new AsyncMutex();
    const order: number[] = [];
    await mutex.lock();
    const waiters = [1, 2, 3, 4].map((n) => mutex.lock().then(() => order.push(n)));
    await tick();
    expect(order).toEqual([]);
    for (let i = 0; i < 4; i++) {
      mutex.unlock();
      await tick();
    }
    await Promise.all(waiters);
    expect(order).toEqual([1, 2, 3, 4]);
    mutex.unlock();
    expect(mutex.locked).toBe(false);
  });

  it('hands over on unlock so that a newcomer cannot slip in (CoMutex semantics)', async () => {
    const mutex = new AsyncMutex();
    const order: string[] = [];
    await mutex.lock();
    const waiter = mutex.lock().then(() => order.push('waiter'));
    mutex.unlock();
    // The lock already belongs to the waiter: it never became free.
    expect(mutex.locked).toBe(true);
    const newcomer = mutex.lock().then(() => order.push('newcomer'));
    await waiter;
    mutex.unlock();
    await newcomer;
    mutex.unlock();
    expect(order).toEqual(['waiter', 'newcomer']);
  });

  it('loses no wake-up under many concurrent waiters, and never runs two holders at once', async () => {
    const mutex = new AsyncMutex();
    let inside = 0;
    let maxInside = 0;
    let completed = 0;
    const tasks = Array.from({ length: 2000 }, (_, i) =>
      mutex.runExclusive(async () => {
        inside++;
        maxInside = Math.max(maxInside, inside);
        if (i % 3 === 0) await tick();
        else await Promise.resolve();
        inside--;
        completed++;
        return i;
      }),
    );
    const results = await Promise.all(tasks);
    expect(results).toEqual(Array.from({ length: 2000 }, (_, i) => i));
    expect(completed).toBe(2000);
    expect(maxInside).toBe(1);
    expect(mutex.locked).toBe(false);
  });

  it('runExclusive releases the lock when the task throws', async () => {
    const mutex = new AsyncMutex();
    await expect(mutex.runExclusive(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(mutex.locked).toBe(false);
    await expect(mutex.runExclusive(() => 7)).resolves.toBe(7);
  });

  it('refuses an unlock while unlocked', () => {
    expect(() => new AsyncMutex().unlock()).toThrow();
  });
});
