import type { Socket } from 'node:net';

/** The peer went away (or the server stopped reading) before a whole message arrived. */
export class DisconnectedError extends Error {
  override name = 'DisconnectedError';
}

interface PendingRead {
  /** Bytes still wanted. */
  remaining: number;
  /** For a read: where the bytes go (absent when skipping). */
  into?: Buffer;
  resolve: (value: Buffer | undefined) => void;
  reject: (error: Error) => void;
}

/**
 * Exact-length reads from a socket, with backpressure: the socket is paused whenever
 * nobody is waiting for its bytes and `highWater` bytes are already buffered, so a client
 * that pipelines more than the server takes in cannot make it buffer more than that
 * (plus one chunk). The caller bounds every length it asks for before asking: no buffer
 * is ever sized by a client's field unchecked.
 */
export class SocketReader {
  readonly #socket: Socket;
  readonly #highWater: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #pending: PendingRead | undefined;
  #ended: Error | undefined;
  #flowing = true;

  constructor(socket: Socket, highWater = 256 * 1024) {
    this.#socket = socket;
    this.#highWater = highWater;
    socket.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      this.#service();
    });
    const end = () => this.end(new DisconnectedError('The client closed the connection'));
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', (error) => this.end(new DisconnectedError(error.message)));
  }

  /** How many bytes are buffered and not yet read. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Exactly `length` bytes (a view of the socket's chunk where it can, a copy where they span chunks). */
  read(length: number): Promise<Buffer> {
    // Once the peer is gone, what it sent before is not served: no reply could reach it.
    if (this.#ended) return Promise.reject(this.#ended);
    if (length === 0) return Promise.resolve(Buffer.alloc(0));
    if (length <= this.#buffered && this.#pending === undefined) return Promise.resolve(this.#take(length));
    return this.#wait(length, true) as Promise<Buffer>;
  }

  /** Reads and discards `length` bytes without holding them: the payload of a refused write. */
  async skip(length: number): Promise<void> {
    await this.#wait(length, false);
  }

  /** Stops reading: a pending read fails with `error`, and so does every later one. */
  end(error: Error): void {
    if (this.#ended) return;
    this.#ended = error;
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(error);
  }

  #wait(length: number, keep: boolean): Promise<Buffer | undefined> {
    if (this.#pending) throw new Error('SocketReader: one read at a time');
    if (this.#ended) return Promise.reject(this.#ended);
    return new Promise((resolve, reject) => {
      this.#pending = {
        remaining: length,
        into: keep ? Buffer.allocUnsafe(length) : undefined,
        resolve,
        reject,
      };
      this.#service();
    });
  }

  #service(): void {
    const pending = this.#pending;
    if (pending) {
      while (pending.remaining > 0 && this.#buffered > 0) {
        const chunk = this.#chunks[0] as Buffer;
        const n = Math.min(chunk.length, pending.remaining);
        if (pending.into) chunk.copy(pending.into, pending.into.length - pending.remaining, 0, n);
        this.#consume(n);
        pending.remaining -= n;
      }
      if (pending.remaining === 0) {
        this.#pending = undefined;
        pending.resolve(pending.into);
      }
    }
    this.#flow(this.#pending !== undefined || this.#buffered < this.#highWater);
  }

  /** Pauses or resumes the socket, on changes only (both cost a tick). */
  #flow(flowing: boolean): void {
    if (flowing === this.#flowing) return;
    this.#flowing = flowing;
    if (flowing) this.#socket.resume();
    else this.#socket.pause();
  }

  #take(length: number): Buffer {
    const first = this.#chunks[0] as Buffer;
    let result: Buffer;
    if (first.length >= length) {
      result = first.subarray(0, length);
      this.#consume(length);
    } else {
      result = Buffer.allocUnsafe(length);
      let filled = 0;
      while (filled < length) {
        const chunk = this.#chunks[0] as Buffer;
        const n = Math.min(chunk.length, length - filled);
        chunk.copy(result, filled, 0, n);
        filled += n;
        this.#consume(n);
      }
    }
    if (this.#buffered < this.#highWater) this.#flow(true);
    return result;
  }

  #consume(n: number): void {
    const chunk = this.#chunks[0] as Buffer;
    if (n === chunk.length) this.#chunks.shift();
    else this.#chunks[0] = chunk.subarray(n);
    this.#buffered -= n;
  }
}
