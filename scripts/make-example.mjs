// Writes examples/hello.bochs: a 1 MiB Bochs growing image with a few sectors written,
// made with the test builder (run `pnpm build` first). Kept in the repo for the README's quick start.
import { writeFileSync } from 'node:fs';
import { buildBochsImage } from '../packages/format-bochs/dist/testing/index.js';

const text = (s) => {
  const sector = new Uint8Array(512);
  sector.set(new TextEncoder().encode(s));
  return sector;
};
const image = buildBochsImage({
  diskSize: 1024 * 1024,
  writes: [
    { offset: 0, data: text('Hello from a Bochs growing image, read by vdisk.\n') },
    { offset: 512 * 9, data: text('Sector 9 sits in the second extent.\n') },
    { offset: 512 * 1000, data: text('Sector 1000: everything between reads as zeros.\n') },
  ],
});
writeFileSync(new URL('../examples/hello.bochs', import.meta.url), image);
console.log(`examples/hello.bochs: ${image.length} bytes`);
