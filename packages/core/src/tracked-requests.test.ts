import { describe, expect, it } from 'vitest';
import { TrackedRequests } from './tracked-requests.js';

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

describe('TrackedRequests', () => {
  it('lets overlapping plain requests run together', async () => {
    const requests = new TrackedRequests();
    const a = await requests.begin(0, 512, false);
    const b = await requests.begin(0, 512, false);
    expect(requests.size).toBe(2);
    requests.end(a);
    requests.end(b);
    expect(requests.size).toBe(0);
  });

  it('makes a serialising request wait for earlier overlapping ones, and later ones wait for it', async () => {
    const requests = new TrackedRequests();
    const order: string[] = [];
    const plain = await requests.begin(0, 512, false);
    const serialising = requests.begin(256, 1024, true).then((r) => {
      order.push('serialising runs');
      return r;
    });
    const later = requests.begin(1000, 2000, false).then((r) => {
      order.push('later runs');
      return r;
    });
    const elsewhere = await requests.begin(4096, 8192, false); // no overlap: runs at once
    await tick();
    expect(order).toEqual([]);
    requests.end(plain);
    const s = await serialising;
    await tick();
    expect(order).toEqual(['serialising runs']);
    requests.end(s);
    requests.end(await later);
    expect(order).toEqual(['serialising runs', 'later runs']);
    requests.end(elsewhere);
  });

  it('never orders empty ranges (flush), and drain waits for everything', async () => {
    const requests = new TrackedRequests();
    const serialising = await requests.begin(0, 1 << 30, true);
    const flush = await requests.begin(0, 0, false);
    let drained = false;
    const draining = requests.drain().then(() => {
      drained = true;
    });
    requests.end(flush);
    await tick();
    expect(drained).toBe(false);
    requests.end(serialising);
    await draining;
    expect(drained).toBe(true);
  });

  it('runs a function as a request and ends it however it ends', async () => {
    const requests = new TrackedRequests();
    await expect(requests.run(0, 1, true, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(requests.size).toBe(0);
    await expect(requests.run(0, 1, true, async () => 7)).resolves.toBe(7);
  });
});
