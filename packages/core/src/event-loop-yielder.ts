import { throwIfAborted } from './errors.js';

/**
 * Lets the event loop run (a macrotask, `setTimeout`, not a microtask) when the copy has
 * kept it for more than a few milliseconds, and checks the AbortSignal each time.
 */
export class EventLoopYielder {
  readonly #signal: AbortSignal | undefined;
  readonly #interval: number;
  #last = Date.now();

  /** `interval`: how long (milliseconds) the caller may keep the event loop between yields. */
  constructor(signal: AbortSignal | undefined, interval = 5) {
    this.#signal = signal;
    this.#interval = interval;
  }

  /** Throws `AbortedError` when the signal has fired; yields first when the interval is over. */
  async check(): Promise<void> {
    throwIfAborted(this.#signal);
    if (Date.now() - this.#last < this.#interval) return;
    await new Promise((resolve) => setTimeout(resolve, 0));
    this.#last = Date.now();
    throwIfAborted(this.#signal);
  }
}
