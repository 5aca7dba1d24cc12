import { describe, expect, it } from 'vitest';
import { withBreaks } from './event-loop.js';

describe('withBreaks', () => {
  it('yields every item, in order, and lets a timer run in the middle of a long walk', async () => {
    async function* busy(): AsyncGenerator<number> {
      // A walk of resolved promises only, about 100 ms long.
      const end = performance.now() + 100;
      let i = 0;
      while (performance.now() < end) yield i++;
    }
    let timerRan = false;
    setTimeout(() => {
      timerRan = true;
    }, 0);
    const seen: number[] = [];
    let timerRanDuringWalk = false;
    for await (const i of withBreaks(busy(), 10)) {
      seen.push(i);
      if (timerRan) timerRanDuringWalk = true;
    }
    expect(seen).toEqual(seen.map((_, i) => i));
    expect(timerRanDuringWalk).toBe(true);
  });
});
