/**
 * A connection's cap on requests in flight, by count and by bytes (qemu-nbd keeps 16
 * requests per client). The request loop acquires before it reads a write's payload or
 * allocates a read's buffer, and stops reading the socket while it waits, so sixteen
 * pipelined 32 MiB writes cost at most `maxBytes` of buffers, not 512 MiB.
 */
export class InflightBudget {
  readonly maxRequests: number;
  readonly maxBytes: number;
  #requests = 0;
  #bytes = 0;
  #waiter: { bytes: number; resolve: () => void } | undefined;
  #idle: (() => void)[] = [];

  constructor(maxRequests: number, maxBytes: number) {
    this.maxRequests = maxRequests;
    this.maxBytes = maxBytes;
  }

  get requests(): number {
    return this.#requests;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Resolves when one more request of `bytes` fits (one waiter at a time: the request loop). */
  acquire(bytes: number): Promise<void> {
    if (this.#fits(bytes)) {
      this.#take(bytes);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.#waiter = { bytes, resolve };
    });
  }

  release(bytes: number): void {
    this.#requests -= 1;
    this.#bytes -= bytes;
    const waiter = this.#waiter;
    if (waiter && this.#fits(waiter.bytes)) {
      this.#waiter = undefined;
      this.#take(waiter.bytes);
      waiter.resolve();
    }
    if (this.#requests === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }

  /** Resolves when no request is in flight. */
  idle(): Promise<void> {
    if (this.#requests === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #fits(bytes: number): boolean {
    return this.#requests < this.maxRequests && (this.#bytes === 0 || this.#bytes + bytes <= this.maxBytes);
  }

  #take(bytes: number): void {
    this.#requests += 1;
    this.#bytes += bytes;
  }
}
