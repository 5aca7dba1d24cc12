import type { RawSink } from './raw-export.js';

/**
 * Where the converted raw file goes, two ways:
 *
 * - The File System Access API (`showSaveFilePicker`, Chromium): the user picks a file,
 *   which is made `size` bytes long at once (ftruncate: a hole), and only the data is
 *   written, each chunk at its position. Chromium writes to a swap file beside the target
 *   and renames it over the target when done, so the holes stay holes on a file system
 *   that has them: sparse for real. Cancel throws the swap file away.
 * - Anywhere else, a download of a Blob made of parts: each chunk of data becomes a Blob
 *   (the browser keeps big blobs on its own disk, not in the page's memory), and holes
 *   are references to a few shared Blobs of zeros, never bytes in memory. The download
 *   itself is a stream of bytes, so the saved file is not sparse: holes arrive as zeros.
 */

interface SaveFilePicker {
  showSaveFilePicker(options: {
    suggestedName: string;
    types?: Array<{ description: string; accept: Record<string, string[]> }>;
  }): Promise<FileSystemFileHandle>;
}

export function canPickSaveFile(): boolean {
  return typeof (window as unknown as Partial<SaveFilePicker>).showSaveFilePicker === 'function';
}

/** Asks for a file to save to; undefined when the user closes the picker. */
export async function pickSaveFile(name: string): Promise<RawSink | undefined> {
  let handle: FileSystemFileHandle;
  try {
    handle = await (window as unknown as SaveFilePicker).showSaveFilePicker({
      suggestedName: name,
      types: [{ description: 'Raw disk image', accept: { 'application/octet-stream': ['.raw', '.img'] } }],
    });
  } catch (error) {
    if ((error as DOMException).name === 'AbortError') return undefined;
    throw error;
  }
  return fileHandleSink(handle);
}

/** A sink writing into a file handle: truncated to size first, so what is never written is a hole. */
export async function fileHandleSink(handle: FileSystemFileHandle): Promise<RawSink> {
  const writable = await handle.createWritable({ keepExistingData: false });
  return {
    async begin(size) {
      await writable.truncate(size);
    },
    async write(position, bytes) {
      await writable.write({ type: 'write', position, data: bytes as Uint8Array<ArrayBuffer> });
    },
    async close() {
      await writable.close();
    },
    async abort() {
      await writable.abort();
    },
  };
}

const MiB = 1024 * 1024;

/** Blobs of zeros of 2^k MiB, each made of two of the one below: a hole costs no memory. */
const zeroBlobs: Blob[] = [];
function zeroBlob(power: number): Blob {
  for (let k = zeroBlobs.length; k <= power; k++) {
    const below = zeroBlobs[k - 1];
    zeroBlobs.push(below ? new Blob([below, below]) : new Blob([new Uint8Array(MiB)]));
  }
  return zeroBlobs[power] as Blob;
}

/** Parts that read as `length` zeros. */
function zeroParts(length: number): Blob[] {
  const parts: Blob[] = [];
  const whole = Math.floor(length / MiB);
  for (let power = 0; 2 ** power <= whole; power++) {
    if (Math.floor(whole / 2 ** power) % 2 === 1) parts.push(zeroBlob(power));
  }
  if (length % MiB) parts.push(zeroBlob(0).slice(0, length % MiB));
  return parts;
}

/** A sink that builds a Blob in parts and downloads it as `name` when closed. */
export function downloadSink(name: string): RawSink & { blob?: Blob } {
  let parts: Blob[] = [];
  let length = 0;
  const sink: RawSink & { blob?: Blob } = {
    async write(position, bytes) {
      if (position > length) parts.push(...zeroParts(position - length));
      parts.push(new Blob([bytes as Uint8Array<ArrayBuffer>]));
      length = position + bytes.length;
    },
    async close(size) {
      if (size > length) parts.push(...zeroParts(size - length));
      const blob = new Blob(parts, { type: 'application/octet-stream' });
      parts = [];
      sink.blob = blob;
      const url = URL.createObjectURL(blob);
      const link = document.createElement('a');
      link.href = url;
      link.download = name;
      link.style.display = 'none';
      document.body.append(link);
      link.click();
      link.remove();
      // The download has its own reference by now; give it a minute to start.
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    },
    async abort() {
      parts = [];
    },
  };
  return sink;
}
