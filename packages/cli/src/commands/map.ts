import { allocationMap, type BlockStatusRun, VdiskError } from '@vdisk/core';
import { openFile } from '@vdisk/core/node';
import { MapCells, mapSvg } from '@vdisk/view';
import { defaultRegistry } from '../default-registry.js';
import { writeStdout } from '../stdout.js';

export interface MapOptions {
  format?: string;
  options?: Record<string, string>;
  output: 'human' | 'json' | 'svg';
  signal?: AbortSignal;
}

/**
 * `vdisk map FILE`, after `qemu-img map`: the allocation map of the whole disk. The map is
 * queried in windows and printed as it comes, so a huge fragmented disk never has its
 * whole run list in memory (allocationMap merges runs across the windows).
 */
export async function mapCommand(filename: string, opts: MapOptions): Promise<number> {
  const device = await openFile(defaultRegistry(), filename, { format: opts.format, options: opts.options });
  try {
    const runs = allocationMap(device, { signal: opts.signal });
    if (opts.output === 'svg') await printSvg(runs, device.virtualSize, filename);
    else if (opts.output === 'json') await printJson(runs);
    else await printHuman(runs, filename);
    return 0;
  } finally {
    await device.close();
  }
}

/**
 * qemu-img's JSON, byte for byte as it prints it: `[` then one entry per line, separated by
 * `,` and a newline, then `]`. Data is present and non-zero at its file offset; a hole is
 * not present and reads as zeros (QEMU's BDRV_BLOCK_ZERO without BDRV_BLOCK_ALLOCATED).
 */
async function printJson(runs: AsyncIterable<BlockStatusRun>): Promise<void> {
  let first = true;
  let text = '[';
  for await (const run of runs) {
    if (!first) text += ',\n';
    first = false;
    const offset = run.data && run.fileOffset !== undefined ? `, "offset": ${run.fileOffset}` : '';
    text +=
      `{ "start": ${run.offset}, "length": ${run.length}, "depth": 0, "present": ${run.data},` +
      ` "zero": ${!run.data}, "data": ${run.data}${offset}}`;
    if (text.length >= 65536) {
      await writeStdout(text);
      text = '';
    }
  }
  await writeStdout(`${text}]\n`);
}

/**
 * The map as a picture (`--output=svg`): the runs summed into cells as they come, so
 * memory stays the cells' whatever the number of runs, drawn as the web page draws them.
 */
async function printSvg(runs: AsyncIterable<BlockStatusRun>, virtualSize: number, filename: string): Promise<void> {
  const cells = new MapCells(virtualSize);
  for await (const run of runs) cells.add(run);
  await writeStdout(mapSvg(cells, filename));
}

/** `%#-16x`: C's alternate hex form, which prints 0 without the `0x`. */
function hex16(value: number): string {
  return (value === 0 ? '0' : `0x${value.toString(16)}`).padEnd(16);
}

/** qemu-img's table: the data runs only, with where they lie in the file. */
async function printHuman(runs: AsyncIterable<BlockStatusRun>, filename: string): Promise<void> {
  let text = `${'Offset'.padEnd(16)}${'Length'.padEnd(16)}${'Mapped to'.padEnd(16)}File\n`;
  for await (const run of runs) {
    if (!run.data) continue;
    if (run.fileOffset === undefined) {
      // qemu-img's refusal too: the table has no way to say where such data lies.
      await writeStdout(text);
      throw new VdiskError('EINVAL', 'File contains external, encrypted or compressed clusters.', { filename });
    }
    text += `${hex16(run.offset)}${hex16(run.length)}${hex16(run.fileOffset)}${filename}\n`;
    if (text.length >= 65536) {
      await writeStdout(text);
      text = '';
    }
  }
  await writeStdout(text);
}
