// The random offsets of the random-read benchmark: 4 KiB-aligned, from a seeded generator
// (mulberry32), so that qemu-io and the vdisk library read exactly the same blocks.
export const READ_SIZE = 4096;

export function randomOffsets(diskSize, count, seed) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const blocks = Math.floor(diskSize / READ_SIZE);
  return Array.from({ length: count }, () => Math.floor(next() * blocks) * READ_SIZE);
}
