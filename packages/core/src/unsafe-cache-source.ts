import type { AllocatedSizeSource, ByteSource } from './byte-source.js';

/**
 * QEMU's cache=unsafe: the source's flush does nothing, so the barriers a driver puts
 * between data and metadata cost nothing. Only for images whose loss in a power cut does
 * not matter: a new image written to a temporary file and renamed into place when
 * complete (convert, create). Everything else goes straight to `inner`; the optional
 * methods exist exactly when `inner` has them.
 */
export function unsafeCacheSource(inner: ByteSource): ByteSource {
  const source: ByteSource & Partial<AllocatedSizeSource> = {
    get size() {
      return inner.size;
    },
    read: (buffer, position) => inner.read(buffer, position),
    close: () => inner.close(),
  };
  if (inner.readv) source.readv = inner.readv.bind(inner);
  if (inner.write) source.write = inner.write.bind(inner);
  if (inner.writev) source.writev = inner.writev.bind(inner);
  if (inner.truncate) source.truncate = inner.truncate.bind(inner);
  if (inner.flush) source.flush = async () => {};
  const allocated = (inner as Partial<AllocatedSizeSource>).allocatedSize;
  if (typeof allocated === 'function') source.allocatedSize = allocated.bind(inner);
  return source;
}
