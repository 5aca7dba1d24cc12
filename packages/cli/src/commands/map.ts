import { allocationMap, backingChain, type MapRun, VdiskError } from '@vdisk/core';
import { openFile } from '@vdisk/core/node';
import { MapCells, mapSvg } from '@vdisk/view';
import { defaultRegistry } from '../default-registry.js';
import { writeStdout } from '../stdout.js';
import { printWarning } from '../warnings.js';

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
  const device = await openFile(defaultRegistry(), filename, {
    format: opts.format,
    options: opts.options,
    onWarning: printWarning,
  });
  try {
    const runs = allocationMap(device, { signal: opts.signal });
    if (opts.output === 'svg') await printSvg(runs, device.virtualSize, filename);
    else if (opts.output === 'json') await printJson(runs);
    else await printHuman(runs, [filename, ...backingChain(device).map((link) => link.fullFilename)]);
    return 0;
  } finally {
    await device.close();
  }
}

/**
 * qemu-img's JSON, byte for byte as it prints it: `[` then one entry per line, separated by
 * `,` and a newline, then `]`. Each run's depth (0 = this image, 1 its backing file...),
 * present, zero and data are core's (`chainStatus`, after QEMU's block layer); data has
 * its offset in the file of its layer.
 */
async function printJson(runs: AsyncIterable<MapRun>): Promise<void> {
  let first = true;
  let text = '[';
  for await (const run of runs) {
    if (!first) text += ',\n';
    first = false;
    const offset = run.data && run.fileOffset !== undefined ? `, "offset": ${run.fileOffset}` : '';
    text +=
      `{ "start": ${run.offset}, "length": ${run.length}, "depth": ${run.depth}, "present": ${run.present},` +
      ` "zero": ${run.zero}, "data": ${run.data}${offset}}`;
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
async function printSvg(runs: AsyncIterable<MapRun>, virtualSize: number, filename: string): Promise<void> {
  const cells = new MapCells(virtualSize);
  for await (const run of runs) cells.add(run);
  await writeStdout(mapSvg(cells, filename));
}

/** `%#-16x`: C's alternate hex form, which prints 0 without the `0x`. */
function hex16(value: number): string {
  return (value === 0 ? '0' : `0x${value.toString(16)}`).padEnd(16);
}

/** qemu-img's table: the data runs only, with where they lie in the file of their layer (`files[depth]`). */
async function printHuman(runs: AsyncIterable<MapRun>, files: string[]): Promise<void> {
  const filename = files[0];
  let text = `${'Offset'.padEnd(16)}${'Length'.padEnd(16)}${'Mapped to'.padEnd(16)}File\n`;
  for await (const run of runs) {
    if (!run.data) continue;
    if (run.fileOffset === undefined) {
      // qemu-img's refusal too: the table has no way to say where such data lies.
      await writeStdout(text);
      throw new VdiskError('EINVAL', 'File contains external, encrypted or compressed clusters.', { filename });
    }
    text += `${hex16(run.offset)}${hex16(run.length)}${hex16(run.fileOffset)}${files[run.depth] ?? filename}\n`;
    if (text.length >= 65536) {
      await writeStdout(text);
      text = '';
    }
  }
  await writeStdout(text);
}
