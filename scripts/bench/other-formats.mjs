// VHD (vpc), VDI and VMDK in `pnpm bench`: each format's convert to raw, vdisk against
// qemu-img, on the same image (qemu-img converts the small raw input into each format,
// untimed). Called from run.mjs with its timing helpers; see docs/benchmark.md.
import { spawnSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';

export const OTHER_FORMATS = [
  { format: 'vpc', options: [] },
  { format: 'vdi', options: [] },
  { format: 'vmdk', options: [] },
];

/**
 * For each format: makes `small.FMT` from `raw` with qemu-img, checks once that vdisk and
 * qemu-img convert it to the same bytes, then times both converts alternately. Returns one
 * result per format: { format, bytes, vdisk, qemu } with medians and MiB/s.
 */
export async function benchOtherFormats({ dir, raw, bytes, alternate, measure, cmp, vdisk, log }) {
  const out = join(dir, 'other-out.raw');
  const qemuOut = join(dir, 'other-qemu.raw');
  const rmOut = () => spawnSync('rm', ['-f', out, qemuOut]);
  const results = [];
  for (const { format, options } of OTHER_FORMATS) {
    const image = join(dir, `small.${format}`);
    await rm(image, { force: true });
    measure('qemu-img', ['convert', '-f', 'raw', '-O', format, ...options, raw, image]);
    log(`convert ${format}→raw: checking, then vdisk / qemu-img ...`);
    rmOut();
    measure(...vdisk('convert', '-O', 'raw', image, out));
    measure('qemu-img', ['convert', '-f', format, '-O', 'raw', image, qemuOut]);
    cmp(out, qemuOut);
    const [ours, theirs] = alternate([
      { name: `vdisk convert -O raw (${format})`, cmd: () => vdisk('convert', '-O', 'raw', image, out), before: rmOut },
      {
        name: `qemu-img convert -f ${format} -O raw`,
        cmd: () => ['qemu-img', ['convert', '-f', format, '-O', 'raw', image, qemuOut]],
        before: rmOut,
      },
    ]);
    rmOut();
    await rm(image, { force: true });
    const rate = (s) => bytes / s / (1024 * 1024);
    results.push({
      format,
      bytes,
      vdisk: { ...ours, MiBps: rate(ours.seconds) },
      qemu: { ...theirs, MiBps: rate(theirs.seconds) },
    });
  }
  return results;
}
