/**
 * Walking the map over holes, or over a file whose catalog points past its end, needs no
 * I/O: every step is a resolved promise, and a promise chain never lets the browser paint
 * or handle a click. This gives the event loop a turn every `sliceMs` of such work, with
 * `scheduler.yield()` where the browser has it (not throttled in a background tab as
 * timers are), else a zero timeout.
 */
export async function* withBreaks<T>(source: AsyncIterable<T>, sliceMs = 25): AsyncGenerator<T, void, undefined> {
  let last = performance.now();
  for await (const item of source) {
    yield item;
    if (performance.now() - last > sliceMs) {
      await giveWay();
      last = performance.now();
    }
  }
}

function giveWay(): Promise<void> {
  const scheduler = (globalThis as { scheduler?: { yield?(): Promise<void> } }).scheduler;
  if (typeof scheduler?.yield === 'function') return scheduler.yield();
  return new Promise((resolve) => setTimeout(resolve, 0));
}
