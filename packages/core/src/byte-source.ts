/**
 * Where a format's bytes come from: QEMU's `file` child. A byte source is a positional
 * reader with a known size. It knows nothing of formats.
 *
 * Reads past the end are zero-filled, as QEMU's block layer does for its protocol
 * drivers, so a driver reads a truncated image the way QEMU does; `size` lets the driver
 * (or `check`) notice when it wants to.
 */
export interface ByteSource {
  /** Size of the underlying data in bytes. */
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
  close(): Promise<void>;
}

/** Optional: the host's allocated size of the source (`du`), for `info`'s actual-size. */
export interface AllocatedSizeSource extends ByteSource {
  allocatedSize(): Promise<number>;
}
