import { type Backing, BackingChainError, type BackingOpener, MAX_BACKING_DEPTH } from './backing-chain.js';
import { BlockDevice } from './block-device.js';
import type { ByteSource } from './byte-source.js';
import type { BlockDriver, CreateBacking, CreateOptions, DriverImage, ProbeContext } from './driver.js';
import { InvalidArgumentError, isVdiskError, ReadOnlyError, UnknownFormatError, VdiskError } from './errors.js';
import { PROBE_SIZE } from './probe-size.js';
import { unsafeCacheSource } from './unsafe-cache-source.js';
import { createVolatileOverlay } from './volatile-overlay.js';

export { PROBE_SIZE };

export interface ProbeResult {
  /** The winning driver's name. */
  format: string;
  score: number;
  /** Every registered driver's score, by name, in registration order. */
  scores: Record<string, number>;
  /**
   * True when the winner only won because nothing else matched: it scored 1, the score of
   * a driver that accepts any bytes (raw). Treating such a file as raw is what CVE-2008-2004
   * was about: name the format when the file comes from someone you do not trust.
   */
  guessed: boolean;
}

export interface OpenImageOptions {
  /** The format's name. Without it, the format is probed. */
  format?: string;
  /**
   * Open for writing. A driver without `write`, or a source without `write`, is refused
   * with `Image is read-only` before the driver reads a byte.
   */
  writable?: boolean;
  /** Format options, as `-o key=value`. */
  options?: Record<string, string>;
  /** The file's name, passed to probe and used in errors. */
  filename?: string;
  /**
   * `writeback` (the default): flushes reach the source. `unsafe`: the source's flush does
   * nothing (QEMU's cache=unsafe), for a new image written to a temporary file.
   */
  cache?: CacheMode;
  /**
   * Finds the parent an image names (its backing file). Without it, an image that has a
   * parent fails to open. `openFile` in `@vdisk/core/node` gives one for files.
   */
  backingOpener?: BackingOpener;
  /**
   * Warnings that do not stop the open, such as a parent whose format probing guessed as
   * raw (QEMU warns likewise). The CLI prints them on stderr.
   */
  onWarning?: (message: string) => void;
  /**
   * Open with a temporary overlay (QEMU's -snapshot, Bochs's Volatile): the image itself
   * is opened read-only, writes go to the overlay (see `createVolatileOverlay`) and are
   * gone on close.
   */
  snapshot?: boolean;
}

export type CacheMode = 'writeback' | 'unsafe';

export interface CreateImageOptions {
  /** The virtual size asked for, in bytes; the format may round it up. */
  virtualSize: number;
  /** Format options for creation (`-o key=value`). */
  options?: Record<string, string>;
  /** The new image's file name, for a format that records its own name (a VMDK's extent line). */
  filename?: string;
  /** The base of a new overlay, for a format that records its parent in the image (see `CreateOptions.backing`). */
  backing?: CreateBacking;
}

/** A chain being opened: the identities seen, for the loop check, and the depth. */
interface ChainState {
  seen: Set<string>;
  depth: number;
  /** The layer's format was found by probing its parent reference: name-implied parents stay unfollowed. */
  probed?: boolean;
}

export interface RegistryOptions {
  /**
   * The format of a 0-byte file, which QEMU calls raw without probing (block.c's
   * find_image_format). Core knows no format by itself; this names the fallback.
   */
  emptyFileFormat?: string;
}

/**
 * The formats vdisk knows, and format detection after QEMU's block.c: every driver
 * scores the first sector, the highest score wins, and a tie goes to the driver
 * registered last.
 *
 * A plain class: `new Registry([new RawDriver(), new BochsDriver()])` needs no container,
 * and loads no inversify (the CLI's probe starts faster for it). `createRegistry` builds one
 * from ContainerModules, where the drivers arrive by multi-injection.
 */
export class Registry {
  readonly #drivers: readonly BlockDriver[];
  readonly #emptyFileFormat: string;

  constructor(drivers: readonly BlockDriver[] = [], options: RegistryOptions = {}) {
    const seen = new Set<string>();
    for (const driver of drivers) {
      if (seen.has(driver.name)) throw new VdiskError('EINVAL', `Two drivers are named '${driver.name}'`);
      seen.add(driver.name);
    }
    this.#drivers = [...drivers];
    this.#emptyFileFormat = options.emptyFileFormat ?? 'raw';
  }

  /** The registered drivers, in registration order. */
  get drivers(): readonly BlockDriver[] {
    return this.#drivers;
  }

  /** The driver named `name`; `Unknown driver 'NAME'` (QEMU's words) otherwise. */
  get(name: string): BlockDriver {
    const driver = this.#drivers.find((d) => d.name === name);
    if (!driver) throw new UnknownFormatError(`Unknown driver '${name}'`);
    return driver;
  }

  has(name: string): boolean {
    return this.#drivers.some((d) => d.name === name);
  }

  /**
   * Scores the first bytes of a file of `fileSize` bytes. `firstBytes` may be shorter than
   * 512 bytes when the file is; it is zero-padded, as QEMU pads its probe buffer. `lastSector`
   * is the file's last 512 bytes, when the file has that many (a fixed VHD's footer).
   */
  probeBytes(firstBytes: Uint8Array, fileSize: number, filename?: string, lastSector?: Uint8Array): ProbeResult {
    if (fileSize === 0 && this.has(this.#emptyFileFormat)) {
      return { format: this.#emptyFileFormat, score: 1, scores: { [this.#emptyFileFormat]: 1 }, guessed: true };
    }
    const sector = new Uint8Array(PROBE_SIZE);
    sector.set(firstBytes.subarray(0, PROBE_SIZE));
    const scores: Record<string, number> = {};
    let winner: BlockDriver | undefined;
    let best = 0;
    const context: ProbeContext = { fileSize };
    if (filename !== undefined) context.filename = filename;
    if (lastSector !== undefined && lastSector.length === PROBE_SIZE) context.lastSector = lastSector;
    for (const driver of this.#drivers) {
      const score = driver.probe(sector, context);
      scores[driver.name] = score;
      if (score > 0 && score >= best) {
        // ">=": on a tie the driver registered last wins, as in QEMU's bdrv_probe_all loop
        best = score;
        winner = driver;
      }
    }
    if (!winner) {
      throw new UnknownFormatError('Could not determine image format: No compatible driver found', { filename });
    }
    return { format: winner.name, score: best, scores, guessed: best === 1 };
  }

  /** Reads the first and the last sector of `source` and probes them. */
  async probe(source: ByteSource, filename?: string): Promise<ProbeResult> {
    const first = new Uint8Array(Math.min(PROBE_SIZE, source.size));
    await source.read(first, 0);
    let last: Uint8Array | undefined;
    if (source.size >= PROBE_SIZE) {
      last = new Uint8Array(PROBE_SIZE);
      await source.read(last, source.size - PROBE_SIZE);
    }
    return this.probeBytes(first, source.size, filename, last);
  }

  /**
   * Opens an image on `source` with the named format, or the probed one. The returned
   * device owns the source: closing it closes the source. On failure the source is left
   * open for the caller to close.
   *
   * A probed format that won by a guess (raw, score 1) restricts writes to the first
   * sector, as QEMU does: a write that would make the image probe as another format fails
   * with `Operation not permitted`. Naming the format lifts it.
   */
  async open(source: ByteSource, options: OpenImageOptions = {}): Promise<BlockDevice> {
    if (options.snapshot) {
      const base = await this.open(source, { ...options, snapshot: false, writable: false });
      return createVolatileOverlay(base, undefined, options.filename);
    }
    const identity = options.backingOpener?.identity;
    return this.#openLayer(source, options, { seen: new Set(identity === undefined ? [] : [identity]), depth: 0 });
  }

  async #openLayer(source: ByteSource, options: OpenImageOptions, chain: ChainState): Promise<BlockDevice> {
    const writable = options.writable ?? false;
    const probe = options.format ? undefined : await this.probe(source, options.filename);
    const driver = this.get(options.format ?? (probe as ProbeResult).format);
    // Before the driver reads a byte, as QEMU's bdrv_open_common refuses a read-only driver.
    if (writable && (typeof driver.write !== 'function' || typeof source.write !== 'function')) {
      throw new ReadOnlyError('Image is read-only');
    }
    const opened = options.cache === 'unsafe' ? unsafeCacheSource(source) : source;
    const image = await driver.open(opened, {
      writable,
      options: options.options ?? {},
      filename: options.filename,
      probed: options.format === undefined || chain.probed === true,
    });
    let backing: Backing | undefined;
    try {
      backing = await this.#openBacking(image, options, chain);
      if (backing) await image.backingOpened?.(backing.device);
      const guessed = probe?.guessed ?? false;
      return new BlockDevice(driver, image, opened, {
        writable,
        probeGuessed: guessed,
        reprobe: guessed ? (first, last, size) => this.#reprobe(first, last, size) : undefined,
        backing,
      });
    } catch (error) {
      await backing?.device.close();
      await image.close();
      throw error;
    }
  }

  /**
   * Opens the parent `image` names, read-only, through the caller's opener: probed unless
   * named, a raw guess opened as raw with a warning (QEMU's), then its own parent in turn.
   */
  async #openBacking(image: DriverImage, options: OpenImageOptions, chain: ChainState): Promise<Backing | undefined> {
    const reference = image.backing;
    if (!reference) return undefined;
    const child = options.filename;
    if (!options.backingOpener) {
      throw new VdiskError('EINVAL', `Could not open backing file '${reference.filename}': no way to open it here`);
    }
    if (chain.depth >= MAX_BACKING_DEPTH) {
      throw new BackingChainError(`Backing chain is longer than ${MAX_BACKING_DEPTH} images`);
    }
    let opened: Awaited<ReturnType<BackingOpener['open']>>;
    try {
      opened = await options.backingOpener.open(reference, child);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new VdiskError(
        isVdiskError(error) ? error.code : 'EIO',
        `Could not open backing file: Could not open '${reference.filename}': ${message}`,
        { cause: error },
      );
    }
    if (!opened) return undefined;
    if (chain.seen.has(opened.identity)) {
      await opened.source.close();
      throw new BackingChainError(`Backing file '${reference.filename}' would make a loop in the backing chain`);
    }
    try {
      let format = reference.format;
      const probed = format === undefined;
      if (format === undefined) {
        const probe = await this.probe(opened.source, opened.filename);
        format = probe.format;
        if (probe.guessed) {
          options.onWarning?.(
            `WARNING: Image format was not specified for '${opened.filename}' and probing guessed ${format}.`,
          );
        }
      }
      const device = await this.#openLayer(
        opened.source,
        {
          format,
          writable: false,
          options: { ...reference.options },
          filename: opened.filename,
          backingOpener: options.backingOpener,
          onWarning: options.onWarning,
        },
        { seen: new Set([...chain.seen, opened.identity]), depth: chain.depth + 1, probed },
      );
      return { device, filename: reference.filename, fullFilename: opened.filename };
    } catch (error) {
      await opened.source.close();
      // The parent's own errors name the parent, not the image that led to it.
      if (isVdiskError(error) && error.filename === undefined) error.filename = opened.filename;
      throw error;
    }
  }

  /**
   * Writes a new, empty image of the format onto `target` (empty and writable), with the
   * driver's `create`. Open it afterwards with `open`.
   */
  async create(format: string, target: ByteSource, options: CreateImageOptions): Promise<void> {
    const driver = this.get(format);
    if (!driver.create) throw new InvalidArgumentError(`Format driver '${format}' does not support image creation`);
    const { virtualSize } = options;
    if (!Number.isSafeInteger(virtualSize) || virtualSize < 0) {
      throw new InvalidArgumentError(`Image size ${virtualSize} is not a non-negative integer below 2^53`);
    }
    if (typeof target.write !== 'function') throw new ReadOnlyError('Image is read-only');
    const createOptions: CreateOptions = { virtualSize, options: options.options ?? {} };
    if (options.filename !== undefined) createOptions.filename = options.filename;
    if (options.backing !== undefined) createOptions.backing = options.backing;
    await driver.create.call(driver, target, createOptions);
  }

  /** What a disk with these first and last sectors probes as, for the guessed-raw guard; undefined when nothing matches. */
  #reprobe(first: Uint8Array, last: Uint8Array | undefined, size: number): string | undefined {
    try {
      return this.probeBytes(first, Math.max(size, 1), undefined, last).format;
    } catch {
      return undefined;
    }
  }
}
