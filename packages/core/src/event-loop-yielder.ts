import { throwIfAborted } from './errors.js';

/**
 * A macrotask that comes as soon as the event loop has looked at I/O, signals and timers:
 * `setImmediate` where there is one (Node), else a MessageChannel message (browsers). Not
 * `setTimeout(0)`: Node makes that at least a millisecond, and a 1 GiB copy yields a few
 * hundred times (a quarter of a second of idling, measured).
 */
function nextMacrotask(): Promise<void> {
  const { setImmediate, MessageChannel } = globalThis as unknown as MacrotaskGlobals;
  if (setImmediate) return new Promise((resolve) => setImmediate(resolve));
  if (MessageChannel) {
    return new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => {
        channel.port1.close();
        resolve();
      };
      channel.port2.postMessage(undefined);
    });
  }
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** What `nextMacrotask` looks for, typed without Node's or the DOM's declarations (core has neither). */
interface MacrotaskGlobals {
  setImmediate?: (callback: () => void) => unknown;
  MessageChannel?: new () => {
    port1: { onmessage: (() => void) | null; close(): void };
    port2: { postMessage(message: unknown): void };
  };
}

/**
 * Lets the event loop run (a macrotask, not a microtask) when the caller has kept it for
 * more than a few milliseconds, and checks the AbortSignal each time.
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
    await nextMacrotask();
    this.#last = Date.now();
    throwIfAborted(this.#signal);
  }
}
