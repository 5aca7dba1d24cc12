/**
 * Yielding to the event loop from long loops. A loop that awaits only promises that are
 * already resolved (a driver that answers from memory, reads past the end of a file that
 * need no I/O) runs on microtasks alone: timers, I/O callbacks and signal handlers never
 * run, so neither an AbortSignal fired from a timer nor Ctrl-C can stop it. Core's long
 * loops (the map, data ranges, data chunks) call a yield point once per step; it yields a
 * macrotask only when `intervalMs` have passed since the last, so a loop that does real
 * I/O pays nothing. Browser-safe: setImmediate where it exists (Node), setTimeout elsewhere.
 */

const nextMacrotask: () => Promise<void> =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === 'function'
    ? () => new Promise((resolve) => setImmediate(resolve))
    : () => new Promise((resolve) => setTimeout(resolve, 0));

/** Milliseconds between yields: short enough for a prompt Ctrl-C, long enough to cost nothing. */
export const YIELD_INTERVAL_MS = 10;

/**
 * A yield point for one loop: `await pause()` once per step. It resolves at once (a
 * microtask) until `intervalMs` have passed, then waits for one turn of the event loop.
 */
export function yieldPoint(intervalMs = YIELD_INTERVAL_MS): () => Promise<void> | undefined {
  let last = performance.now();
  return () => {
    const now = performance.now();
    if (now - last < intervalMs) return undefined;
    return nextMacrotask().then(() => {
      last = performance.now();
    });
  };
}
