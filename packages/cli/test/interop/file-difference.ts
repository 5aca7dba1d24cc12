/**
 * Compares two files in 1 MiB chunks, so that images of hundreds of megabytes never sit in
 * memory at once. Returns undefined when they are byte-for-byte equal, else a one-line
 * description of the first difference (for the assertion's message).
 */
import { type FileHandle, open } from 'node:fs/promises';

const CHUNK = 1024 * 1024;

export async function fileDifference(a: string, b: string): Promise<string | undefined> {
  const [fa, fb] = await Promise.all([open(a), open(b)]);
  try {
    const [sa, sb] = await Promise.all([fa.stat(), fb.stat()]);
    if (sa.size !== sb.size) return `${a} has ${sa.size} bytes, ${b} has ${sb.size}`;
    const ba = Buffer.alloc(CHUNK);
    const bb = Buffer.alloc(CHUNK);
    for (let at = 0; at < sa.size; at += CHUNK) {
      const length = Math.min(CHUNK, sa.size - at);
      await Promise.all([readFully(fa, ba, length, at), readFully(fb, bb, length, at)]);
      if (ba.subarray(0, length).equals(bb.subarray(0, length))) continue;
      let i = 0;
      while (ba[i] === bb[i]) i++;
      const where = at + i;
      return `${a} and ${b} first differ at byte ${where} (0x${where.toString(16)}): ${ba[i]} vs ${bb[i]}`;
    }
    return undefined;
  } finally {
    await Promise.all([fa.close(), fb.close()]);
  }
}

async function readFully(file: FileHandle, buffer: Buffer, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) throw new Error(`unexpected end of file at ${position + done}`);
    done += bytesRead;
  }
}
