import type { ByteSource } from './byte-source.js';

/**
 * Fills `buffers`, in order, with the bytes of `source` from `position` on: one `readv`
 * when the source has it (one system call for a file), else one `read` per buffer.
 * Drivers call this and never need to know which sources can scatter.
 */
export async function readSource(source: ByteSource, buffers: readonly Uint8Array[], position: number): Promise<void> {
  if (buffers.length === 1) {
    await source.read(buffers[0] as Uint8Array, position);
    return;
  }
  if (source.readv) {
    await source.readv(buffers, position);
    return;
  }
  let at = position;
  for (const buffer of buffers) {
    await source.read(buffer, at);
    at += buffer.length;
  }
}
