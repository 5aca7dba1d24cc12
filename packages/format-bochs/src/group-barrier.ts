/**
 * Barriers shared by the writes in flight together (group commit, as file systems and
 * databases do for their journals). A caller's barrier must be a flush that *began* after
 * the caller's own writes completed: one already running may have started before them. So
 * a caller that finds a flush running waits for the next one, which all such callers
 * share: N allocations in flight together cost about two fdatasyncs, not N.
 */
export class GroupBarrier {
  readonly #flush: () => Promise<void>;
  #running: Promise<void> | undefined;
  #queued: Promise<void> | undefined;

  /** `flush` is the source's barrier (fdatasync); without one, a barrier is a no-op. */
  constructor(flush: (() => Promise<void>) | undefined) {
    this.#flush = flush ?? (() => Promise.resolve());
  }

  /** Resolves when a flush that began after this call has completed; rejects if it failed. */
  wait(): Promise<void> {
    if (this.#running === undefined) return this.#start();
    if (this.#queued === undefined) {
      const next = () => {
        this.#queued = undefined;
        return this.#start();
      };
      // Whatever became of the running flush, the queued callers get a flush of their own.
      this.#queued = this.#running.then(next, next);
    }
    return this.#queued;
  }

  #start(): Promise<void> {
    const running: Promise<void> = this.#flush().finally(() => {
      if (this.#running === running) this.#running = undefined;
    });
    this.#running = running;
    return running;
  }
}
