/**
 * A mutex for async code with the semantics of QEMU's CoMutex: waiters queue in FIFO
 * order, and `unlock` hands the lock straight to the next waiter, so no one can slip in
 * between and no wake-up is lost.
 */
export class AsyncMutex {
  #locked = false;
  readonly #waiters: Array<() => void> = [];

  get locked(): boolean {
    return this.#locked;
  }

  /** Resolves once the caller holds the lock. */
  lock(): Promise<void> {
    if (!this.#locked) {
      this.#locked = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Releases the lock, handing it to the oldest waiter if there is one. */
  unlock(): void {
    if (!this.#locked) throw new Error('AsyncMutex.unlock() called while unlocked');
    const next = this.#waiters.shift();
    if (next)
      next(); // the lock passes on without ever being free
    else this.#locked = false;
  }

  /** Runs `fn` holding the lock, and releases it however `fn` ends. */
  async runExclusive<T>(fn: () => T | Promise<T>): Promise<T> {
    await this.lock();
    try {
      return await fn();
    } finally {
      this.unlock();
    }
  }
}
