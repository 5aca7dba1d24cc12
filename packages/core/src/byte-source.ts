/**
 * Where a format's bytes come from: QEMU's `file` child. A byte source is a positional
 * reader with a known size. It knows nothing of formats.
 *
 * Reads past the end are zero-filled, as QEMU's block layer does for its protocol
 * drivers, so a driver reads a truncated image the way QEMU does; `size` lets the driver
 * (or `check`) notice when it wants to.
 */
export interface ByteSource {
  /** Size of the underlying data in bytes. A write past the end grows it. */
  readonly size: number;
  /**
   * Fills `buffer` with the bytes at `[position, position + buffer.length)`. Bytes past
   * `size` read as zeros. Rejects with a `VdiskError`.
   */
  read(buffer: Uint8Array, position: number): Promise<void>;
  /**
   * Optional: fills `buffers`, in order, with the bytes from `position` on, as one
   * positional read (POSIX preadv), so that a driver can scatter one run of the file into
   * many buffers with one system call. Same rules as `read`. Core's `readSource` falls
   * back to one `read` per buffer when a source has no `readv`.
   */
  readv?(buffers: readonly Uint8Array[], position: number): Promise<void>;
  /**
   * Optional, for writable sources: writes `buffer` at `position` (pwrite), growing the
   * source when it ends past `size`. Resolves when the bytes are written (in the page
   * cache for a file: they survive a process crash, not a power loss). A source opened
   * read-only rejects with `ReadOnlyError`.
   */
  write?(buffer: Uint8Array, position: number): Promise<void>;
  /** Optional: writes `buffers`, in order, from `position` on, as one pwritev. Core's `writeSource` falls back to `write`. */
  writev?(buffers: readonly Uint8Array[], position: number): Promise<void>;
  /**
   * Optional: makes every completed write durable (fdatasync). Drivers use it as the
   * barrier between data and the metadata that points to it.
   */
  flush?(): Promise<void>;
  /** Optional: sets the size, cutting or extending with zeros (ftruncate): `check -r leaks`. */
  truncate?(size: number): Promise<void>;
  close(): Promise<void>;
}

/** Optional: the host's allocated size of the source (`du`), for `info`'s actual-size. */
export interface AllocatedSizeSource extends ByteSource {
  allocatedSize(): Promise<number>;
}

/** Optional: when the source's bytes last changed (a file's mtime), for formats that check a parent's age (Bochs redologs). */
export interface ModifiedTimeSource extends ByteSource {
  modifiedTime(): Promise<Date>;
}
