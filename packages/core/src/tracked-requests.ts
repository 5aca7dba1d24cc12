/** One request in flight on a device: the aligned range it touches. */
export interface TrackedRequest {
  readonly start: number;
  readonly end: number;
  /** A read-modify-write (or any request that must not interleave with others on its range). */
  readonly serialising: boolean;
  /** Resolves when the request has ended, however it ended. */
  readonly settled: Promise<void>;
}

interface Entry extends TrackedRequest {
  resolve(): void;
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
    const conflicts: Promise<void>[] = [];
    if (end > start) {
      for (const other of this.#inFlight) {
        if ((serialising || other.serialising) && other.start < end && start < other.end) {
          conflicts.push(other.settled);
        }
      }
    }
    let resolve!: () => void;
    const settled = new Promise<void>((r) => {
      resolve = r;
    });
    const entry: Entry = { start, end, serialising, settled, resolve };
    this.#inFlight.add(entry);
    if (conflicts.length > 0) await Promise.all(conflicts);
    return entry;
  }

  /** Ends a request begun with `begin`: whoever waits for it may run. */
  end(request: TrackedRequest): void {
    const entry = request as Entry;
    if (!this.#inFlight.delete(entry)) return;
    entry.resolve();
  }

  /** Runs `fn` as a request on `[start, end)`. */
  async run<T>(start: number, end: number, serialising: boolean, fn: () => Promise<T>): Promise<T> {
    const request = await this.begin(start, end, serialising);
    try {
      return await fn();
    } finally {
      this.end(request);
    }
  }

  /** Resolves when every request in flight now, and every one they wait for, has ended. */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) {
      await Promise.all([...this.#inFlight].map((entry) => entry.settled));
    }
  }
}
