/**
 * The raw disks that bximage converts into Bochs images. Each is a pure function of its spec, so
 * the raw file is the independent expectation: whatever reads the image back must give these
 * bytes exactly. Random bytes come from AES-128-CTR over a key derived from a seed string:
 * deterministic, fast, and without a zero sector in practice.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { ByteRange } from './peers.js';

const SECTOR = 512;

export type DiskContents =
  /** Every 512-byte sector stamped with its number: 32 text records `NNNNNNNNNNNN:RR\n` (sector, record). */
  | { kind: 'pattern'; size: number }
  /** Seeded random bytes throughout: every sector allocated. */
  | { kind: 'random'; size: number; seed: string }
  /** Zeros with seeded random data in `holesLayout(size, extent)`: whole and partial extents, start and end. */
  | { kind: 'holes'; size: number; extent: number; seed: string };

/** `length` seeded random bytes: the AES-128-CTR keystream for `seed`, from its byte `start` (a multiple of 16). */
export function seededBytes(seed: string, length: number, start = 0): Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const counter = Buffer.alloc(16);
  counter.writeBigUInt64BE(BigInt(start / 16), 8);
  const cipher = createCipheriv('aes-128-ctr', key, counter);
  return Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()]);
}

/** A small seeded generator of integers (mulberry32), for choosing positions. */
export function seededIntegers(seed: string): (below: number) => number {
  let state = createHash('sha256').update(seed).digest().readUInt32LE(0);
  return (below) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * below);
  };
}

/** The pattern disk's bytes for whole sectors `[firstSector, firstSector + count)`. */
export function patternSectors(firstSector: number, count: number): Buffer {
  const out = Buffer.alloc(count * SECTOR);
  for (let s = 0; s < count; s++) {
    const sector = String(firstSector + s).padStart(12, '0');
    for (let record = 0; record < SECTOR / 16; record++) {
      out.write(`${sector}:${String(record).padStart(2, '0')}\n`, s * SECTOR + record * 16, 'latin1');
    }
  }
  return out;
}

/**
 * Where the holes disk holds data; everything else is zero. For an extent size E (FORMAT.md §4),
 * it covers: data in the very first sector; extent 1 left wholly unallocated; extent 2 wholly
 * data; one sector in the middle of extent 3; a run straddling the boundary of extents 4 and 5;
 * 200 bytes inside one sector (the rest of that sector zero); the last sector of extent 8; a
 * run in the middle of the disk ending mid-sector after several extents; a few seeded scattered
 * sectors; and the last 700 bytes of the disk, across its last two sectors.
 */
export function holesLayout(size: number, extent: number, seed: string): ByteRange[] {
  if (size % SECTOR !== 0 || size < 32 * extent) {
    throw new Error(`a holes disk needs a multiple of 512 and at least 32 extents, not ${size} bytes`);
  }
  const E = extent;
  const middle = Math.floor(size / 2 / E) * E;
  const regions: ByteRange[] = [
    { offset: 0, length: SECTOR },
    { offset: 2 * E, length: E },
    { offset: 3 * E + E / 2, length: SECTOR },
    { offset: 5 * E - 1024, length: 2560 },
    { offset: 7 * E + 100, length: 200 },
    { offset: 9 * E - SECTOR, length: SECTOR },
    { offset: middle + 3 * SECTOR, length: 4 * E + 123 },
  ];
  const pick = seededIntegers(`${seed}/scatter`);
  const firstFree = 12 * E;
  const sectors = (size - E - firstFree) / SECTOR;
  for (let i = 0; i < 12; i++) {
    regions.push({ offset: firstFree + pick(sectors) * SECTOR, length: SECTOR * (1 + pick(3)) });
  }
  regions.push({ offset: size - 700, length: 700 });
  return regions.sort((a, b) => a.offset - b.offset);
}

/** Writes the raw disk to `path` (a sparse file: holes are not written). */
export async function writeDiskContents(path: string, contents: DiskContents): Promise<void> {
  const file = await open(path, 'w');
  try {
    await file.truncate(contents.size);
    const chunk = 1024 * 1024;
    switch (contents.kind) {
      case 'pattern':
        for (let at = 0; at < contents.size; at += chunk) {
          const length = Math.min(chunk, contents.size - at);
          await file.write(patternSectors(at / SECTOR, length / SECTOR), 0, length, at);
        }
        break;
      case 'random':
        for (let at = 0; at < contents.size; at += chunk) {
          const length = Math.min(chunk, contents.size - at);
          await file.write(seededBytes(contents.seed, length, at), 0, length, at);
        }
        break;
      case 'holes':
        for (const { offset, length } of holesLayout(contents.size, contents.extent, contents.seed)) {
          await file.write(seededBytes(`${contents.seed}@${offset}`, length), 0, length, offset);
        }
        break;
    }
  } finally {
    await file.close();
  }
}
