import type { ByteSource } from './byte-source.js';
import { ReadOnlyError } from './errors.js';

/**
 * Writes `buffers`, in order, to `source` from `position` on: one `writev` when the source
 * has it (one pwritev for a file), else one `write` per buffer. The writing twin of
 * `readSource`. A source that cannot be written rejects with `ReadOnlyError`.
 */
export async function writeSource(source: ByteSource, buffers: readonly Uint8Array[], position: number): Promise<void> {
  if (!source.write) throw new ReadOnlyError('Source is read-only');
  if (buffers.length === 1) {
    await source.write(buffers[0] as Uint8Array, position);
    return;
  }
  if (source.writev) {
    await source.writev(buffers, position);
    return;
  }
  let at = position;
  for (const buffer of buffers) {
    await source.write(buffer, at);
    at += buffer.length;
  }
}
