import type { ByteSource } from '../byte-source.js';
import { assertExactRange } from '../exact-offset.js';
import { SeededRandom } from './seeded-random.js';

/** The unit a disk writes whole or not at all. */
export const SECTOR = 512;

/** One operation of the source's log, in the order it took effect. */
export type SourceOperation =
  | { kind: 'write'; position: number; bytes: Uint8Array }
  | { kind: 'truncate'; size: number }
  /** A barrier was asked for: it covers every write before it in the log. */
  | { kind: 'flush-start' }
  /** The barrier whose `flush-start` is at index `start` completed. */
  | { kind: 'flush-done'; start: number };

export interface PowerLossSourceOptions {
  /**
   * Seeds the scheduler: every operation takes effect after 0 to `maxDelay` turns of the
   * microtask queue, so requests in flight together interleave differently from seed to
   * seed, and the same seed replays the same interleaving.
   */
  seed?: number;
  /** Default 3. 0 makes every operation take effect at its first turn. */
  maxDelay?: number;
}

/** What a power loss at `point` (after the log's first `point` operations) could leave. */
export interface CrashState {
  point: number;
  /**
   * `durable`: only what the completed barriers covered; `all`: every operation (a process
   * crash, with the page cache intact); `subset`: the durable state plus some pending pieces.
   */
  kind: 'durable' | 'all' | 'subset';
  bytes: Uint8Array;
}

export interface CrashStateOptions {
  /** Seeds the choice of subsets. */
  seed?: number;
  /**
   * How many random subsets of the pending pieces to give, besides the durable state and
   * the whole log. When every subset fits in this number, each subset is given once instead.
   */
  subsets?: number;
}

/** A piece of a pending operation: one 512-byte sector of a write, or a whole truncate. */
interface Piece {
  op: number;
  position: number;
  bytes?: Uint8Array;
  truncate?: number;
}

/** The bytes of a file and its size (the buffer may be longer: capacity). */
class FileImage {
  bytes: Uint8Array;
  size: number;

  constructor(bytes: Uint8Array, size = bytes.length) {
    this.bytes = bytes;
    this.size = size;
  }

  clone(): FileImage {
    return new FileImage(this.bytes.slice(0, this.size), this.size);
  }

  write(position: number, data: Uint8Array): void {
    const end = position + data.length;
    this.#reserve(end);
    this.bytes.set(data, position);
    if (end > this.size) this.size = end;
  }

  /** Grows the size (the new bytes read as zeros), never shrinks. */
  grow(size: number): void {
    this.#reserve(size);
    if (size > this.size) this.size = size;
  }

  truncate(size: number): void {
    this.#reserve(size);
    // Bytes past a cut read as zeros if the file grows again.
    if (size < this.size) this.bytes.fill(0, size, this.size);
    this.size = size;
  }

  read(buffer: Uint8Array, position: number): void {
    const available = Math.max(0, Math.min(buffer.length, this.size - position));
    if (available > 0) buffer.set(this.bytes.subarray(position, position + available));
    buffer.fill(0, Math.max(0, available));
  }

  contents(): Uint8Array {
    return this.bytes.slice(0, this.size);
  }

  #reserve(end: number): void {
    if (end <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(end, this.bytes.length * 2, 4096));
    grown.set(this.bytes.subarray(0, this.size));
    this.bytes = grown;
  }
}

/**
 * An in-memory writable byte source that records every write and barrier (flush), and
 * gives what a power loss at any point of its log could leave on the disk, for
 * fault-injection tests:
 *
 * - everything up to the start of the last completed barrier (a flush covers the writes
 *   that took effect before it was asked for, not those that raced with it);
 * - plus any subset of the writes since then, split into the 512-byte sectors of the file
 *   that each write touches, each sector of each write whole or not at all, independently
 *   of the others: a `writev` is never one atomic unit, and a write's later sectors may
 *   land without its first ones;
 * - the chosen pieces applied in log order, so a sector written twice since the barrier
 *   holds the older state, either version, or (when both pieces land) the newer one;
 * - and the file's size either as the landed pieces make it, or grown to the end of every
 *   pending write with the missing pieces reading as zeros (the size's metadata reached
 *   the disk before the data).
 *
 * A truncate since the barrier is one piece: it happened or it did not.
 */
export class PowerLossSource implements ByteSource {
  readonly #initial: FileImage;
  readonly #current: FileImage;
  readonly #log: SourceOperation[] = [];
  readonly #scheduler: SeededRandom;
  readonly #maxDelay: number;
  /** The durable image at the last cut computed: points are usually visited in ascending order. */
  #durableCache?: { cut: number; image: FileImage };
  #closed = false;

  constructor(initial: Uint8Array = new Uint8Array(0), options: PowerLossSourceOptions = {}) {
    this.#initial = new FileImage(initial.slice());
    this.#current = new FileImage(initial.slice());
    this.#scheduler = new SeededRandom(options.seed ?? 1);
    this.#maxDelay = options.maxDelay ?? 3;
  }

  get size(): number {
    return this.#current.size;
  }

  /** The log so far, in the order operations took effect. */
  get operations(): readonly SourceOperation[] {
    return this.#log;
  }

  /** The crash point now: the number of operations in the log. */
  get point(): number {
    return this.#log.length;
  }

  /** The bytes as they are now (what a process crash leaves: every completed write). */
  bytes(): Uint8Array {
    return this.#current.contents();
  }

  async read(buffer: Uint8Array, position: number): Promise<void> {
    assertExactRange(position, buffer.length, 'Source read');
    await this.#delay();
    this.#current.read(buffer, position);
  }

  async readv(buffers: readonly Uint8Array[], position: number): Promise<void> {
    let length = 0;
    for (const buffer of buffers) length += buffer.length;
    assertExactRange(position, length, 'Source read');
    await this.#delay();
    let at = position;
    for (const buffer of buffers) {
      this.#current.read(buffer, at);
      at += buffer.length;
    }
  }

  write(buffer: Uint8Array, position: number): Promise<void> {
    return this.writev([buffer], position);
  }

  /** One operation in the log, taking effect after its delay: the buffers are read then, as pwritev does. */
  async writev(buffers: readonly Uint8Array[], position: number): Promise<void> {
    let length = 0;
    for (const buffer of buffers) length += buffer.length;
    assertExactRange(position, length, 'Source write');
    this.#assertOpen();
    await this.#delay();
    const bytes = new Uint8Array(length);
    let at = 0;
    for (const buffer of buffers) {
      bytes.set(buffer, at);
      at += buffer.length;
    }
    this.#current.write(position, bytes);
    this.#log.push({ kind: 'write', position, bytes });
  }

  async flush(): Promise<void> {
    this.#assertOpen();
    const start = this.#log.length;
    this.#log.push({ kind: 'flush-start' });
    await this.#delay();
    this.#log.push({ kind: 'flush-done', start });
  }

  async truncate(size: number): Promise<void> {
    assertExactRange(0, size, 'Source truncate');
    this.#assertOpen();
    await this.#delay();
    this.#current.truncate(size);
    this.#log.push({ kind: 'truncate', size });
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  /** Index of the log from which operations are not yet durable at `point`. */
  durableCut(point = this.point): number {
    let cut = 0;
    for (let i = 0; i < Math.min(point, this.#log.length); i++) {
      const op = this.#log[i] as SourceOperation;
      if (op.kind === 'flush-done' && op.start > cut) cut = op.start;
    }
    return cut;
  }

  /** What survives any power loss at `point`: the operations before the durable cut. */
  durable(point = this.point): Uint8Array {
    return this.#durableImage(this.durableCut(point)).contents();
  }

  /** The number of pieces (sectors of writes, and truncates) pending at `point`. */
  pendingPieces(point = this.point): number {
    return this.#pieces(this.durableCut(point), point).length;
  }

  /**
   * States a power loss at `point` could leave: the durable state, the whole log, and
   * subsets of the pending pieces (every subset when they are few, else seeded samples
   * with varied densities: some states keep most pieces, some almost none).
   */
  *crashStates(point: number, options: CrashStateOptions = {}): Generator<CrashState> {
    if (!Number.isSafeInteger(point) || point < 0 || point > this.#log.length) {
      throw new RangeError(`Crash point ${point} is outside the log (0..${this.#log.length})`);
    }
    const cut = this.durableCut(point);
    // A copy: the cache moves on if the caller asks for another point meanwhile.
    const durable = this.#durableImage(cut).clone();
    const pieces = this.#pieces(cut, point);
    const pendingEnd = pieces.reduce((end, p) => Math.max(end, p.position + (p.bytes?.length ?? 0)), 0);
    yield { point, kind: 'durable', bytes: durable.contents() };
    if (pieces.length === 0) return;
    yield { point, kind: 'all', bytes: this.#apply(durable, pieces, () => true, false) };

    const subsets = options.subsets ?? 8;
    const random = new SeededRandom((options.seed ?? 1) * 7919 + point);
    if (pieces.length < 20 && 2 ** pieces.length - 2 <= subsets) {
      // Every proper, non-empty subset, in both sizes of the file.
      for (let mask = 1; mask < 2 ** pieces.length - 1; mask++) {
        const grow = random.chance(0.25) ? pendingEnd : false;
        yield { point, kind: 'subset', bytes: this.#apply(durable, pieces, (i) => ((mask >> i) & 1) === 1, grow) };
      }
      return;
    }
    for (let n = 0; n < subsets; n++) {
      const density = [0.5, 0.1, 0.9, random.next()][n % 4] as number;
      const grow = random.chance(0.25) ? pendingEnd : false;
      yield { point, kind: 'subset', bytes: this.#apply(durable, pieces, () => random.chance(density), grow) };
    }
  }

  /** The durable image plus the chosen pieces, in log order. */
  #apply(
    durable: FileImage,
    pieces: readonly Piece[],
    keep: (index: number) => boolean,
    grow: number | boolean,
  ): Uint8Array {
    const image = durable.clone();
    pieces.forEach((piece, index) => {
      if (!keep(index)) return;
      if (piece.truncate !== undefined) image.truncate(piece.truncate);
      else image.write(piece.position, piece.bytes as Uint8Array);
    });
    if (typeof grow === 'number') image.grow(grow);
    return image.contents();
  }

  /** The pending operations of `[cut, point)`, each write split at the file's 512-byte sector boundaries. */
  #pieces(cut: number, point: number): Piece[] {
    const pieces: Piece[] = [];
    for (let op = cut; op < point; op++) {
      const operation = this.#log[op] as SourceOperation;
      if (operation.kind === 'truncate') {
        pieces.push({ op, position: 0, truncate: operation.size });
      } else if (operation.kind === 'write') {
        const { position, bytes } = operation;
        let at = 0;
        while (at < bytes.length) {
          const sectorEnd = (Math.floor((position + at) / SECTOR) + 1) * SECTOR;
          const end = Math.min(bytes.length, sectorEnd - position);
          pieces.push({ op, position: position + at, bytes: bytes.subarray(at, end) });
          at = end;
        }
      }
    }
    return pieces;
  }

  #durableImage(cut: number): FileImage {
    let cache = this.#durableCache;
    if (!cache || cache.cut > cut) cache = { cut: 0, image: this.#initial.clone() };
    for (let op = cache.cut; op < cut; op++) {
      const operation = this.#log[op] as SourceOperation;
      if (operation.kind === 'write') cache.image.write(operation.position, operation.bytes);
      else if (operation.kind === 'truncate') cache.image.truncate(operation.size);
    }
    cache.cut = cut;
    this.#durableCache = cache;
    return cache.image;
  }

  async #delay(): Promise<void> {
    const turns = this.#maxDelay > 0 ? this.#scheduler.below(this.#maxDelay + 1) : 0;
    for (let i = 0; i < turns; i++) await Promise.resolve();
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('PowerLossSource: write after close');
  }
}
