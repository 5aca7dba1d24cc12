import type { BochsImage } from './bochs-image.js';
import { checkImage } from './check.js';
import { HEADER_SIZE } from './header.js';

/**
 * Why writing to this image would make it worse, or undefined when it can be written. QEMU
 * refuses to open a corrupt qcow2 image read/write; here a writable open still succeeds (so
 * that `check -r` can run and report), and every write fails with the reason:
 *
 * - a header size other than 512: QEMU reads the catalog at `header`, Bochs at 512, so the
 *   two already disagree on where the entries are;
 * - a bitmap larger than its extent: a hostile field claims up to 4 GiB of bitmap per slot,
 *   which a new slot would have to write;
 * - any corruption `check` finds: a catalog cut short reads as entries of slot 0, shared
 *   slots would carry one extent's writes into another, an entry past the end of the file
 *   would grow the file to wherever it points, a bitmap too small for its extent would have
 *   its bits land in the data.
 */
export async function whyNotWritable(image: BochsImage): Promise<string | undefined> {
  const { header, geometry } = image;
  if (header.headerSize !== HEADER_SIZE) {
    return `its header is ${header.headerSize} bytes, not ${HEADER_SIZE} (Bochs reads the catalog at ${HEADER_SIZE})`;
  }
  if (geometry.bitmapBlocks > geometry.extentBlocks) {
    return `its bitmap of ${header.bitmapSize} bytes is larger than its extents of ${geometry.extentSize} bytes`;
  }
  const report = await checkImage(image);
  const corruption = report.problems.find((problem) => problem.kind === 'corruption');
  if (corruption) return corruption.message;
  return undefined;
}
