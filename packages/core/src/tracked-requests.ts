/** One request in flight on a device: the aligned range it touches. */
export interface TrackedRequest {
  readonly start: number;
  readonly end: number;
  /** A read-modify-write (or any request that must not interleave with others on its range). */
  readonly serialising: boolean;
  /** Resolves when the request has ended, however it ended. */
  readonly settled: Promise<void>;
}

/**
 * A request in flight. Its `settled` promise is made only when something waits for it (a
 * serialising request, `drain`): most requests overlap nothing, and at queue depth 16 a
 * promise per request was a measurable share of a 4 KiB read's cost.
 */
class Entry implements TrackedRequest {
  readonly start: number;
  readonly end: number;
  readonly serialising: boolean;
  #settled: Promise<void> | undefined;
  #resolve: (() => void) | undefined;
  #ended = false;

  constructor(start: number, end: number, serialising: boolean) {
    this.start = start;
    this.end = end;
    this.serialising = serialising;
  }

  get settled(): Promise<void> {
    if (this.#ended) return Promise.resolve();
    this.#settled ??= new Promise<void>((resolve) => {
      this.#resolve = resolve;
    });
    return this.#settled;
  }

  finish(): void {
    this.#ended = true;
    this.#resolve?.();
  }
}

/**
 * The requests in flight on a device, after QEMU's tracked requests (block/io.c). Most
 * requests run concurrently; a serialising one (a read-modify-write of an unaligned head
 * or tail) waits for every overlapping request that began before it, and any request
 * waits for the overlapping serialising requests that began before it
 * (bdrv_wait_serialising_requests). So the read and the write of a read-modify-write never
 * have another write to the same unit between them, and two unaligned writes into one
 * sector both land. Waiting only for earlier requests keeps the wait graph acyclic.
 *
 * It also counts every request, so that `close` can wait for all of them.
 */
export class TrackedRequests {
  readonly #inFlight = new Set<Entry>();
  /** How many of them are serialising. */
  #serialising = 0;

  /** How many requests are in flight (waiting or running). */
  get size(): number {
    return this.#inFlight.size;
  }

  /**
   * Registers a request on `[start, end)` and resolves when it may run. The caller must
   * call `end` with the result when the request is over, whether it succeeded or not.
   * An empty range conflicts with nothing: a flush is counted, never ordered.
   */
  async begin(start: number, end: number, serialising: boolean): Promise<TrackedRequest> {
    const conflicts = this.#conflicts(start, end, serialising);
    const entry = this.#add(start, end, serialising);
    if (conflicts.length > 0) await Promise.all(conflicts);
    return entry;
  }

  /** Ends a request begun with `begin`: whoever waits for it may run. */
  end(request: TrackedRequest): void {
    const entry = request as Entry;
    if (!this.#inFlight.delete(entry)) return;
    if (entry.serialising) this.#serialising--;
    entry.finish();
  }

  /**
   * Runs `fn` as a request on `[start, end)`. A request that waits for nothing calls `fn`
   * at once, without a turn of the event loop in between.
   */
  async run<T>(start: number, end: number, serialising: boolean, fn: () => Promise<T>): Promise<T> {
    const conflicts = this.#conflicts(start, end, serialising);
    const entry = this.#add(start, end, serialising);
    try {
      if (conflicts.length > 0) await Promise.all(conflicts);
      return await fn();
    } finally {
      this.end(entry);
    }
  }

  #add(start: number, end: number, serialising: boolean): Entry {
    const entry = new Entry(start, end, serialising);
    this.#inFlight.add(entry);
    if (serialising) this.#serialising++;
    return entry;
  }

  /** What a request on `[start, end)` must wait for: the overlapping requests in flight that are serialising, or all of them if it is. */
  #conflicts(start: number, end: number, serialising: boolean): Promise<void>[] {
    const conflicts: Promise<void>[] = [];
    // The common case, plain requests among plain requests, looks at nothing.
    if (end > start && (serialising || this.#serialising > 0)) {
      for (const other of this.#inFlight) {
        if ((serialising || other.serialising) && other.start < end && start < other.end) {
          conflicts.push(other.settled);
        }
      }
    }
    return conflicts;
  }

  /** Resolves when every request in flight now, and every one they wait for, has ended. */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) {
      await Promise.all([...this.#inFlight].map((entry) => entry.settled));
    }
  }
}
