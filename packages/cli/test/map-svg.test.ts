import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBochsImage } from '@vdisk/format-bochs/testing';
import { MAP_COLOURS, SVG_CELL } from '@vdisk/view';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, runVdisk } from './vdisk-process.js';

let dir: string;
beforeAll(async () => {
  assertBuilt();
  dir = await mkdtemp(join(tmpdir(), 'vdisk-map-svg-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** The colour of every cell, read back from the SVG's bars (x, y and width in SVG_CELL steps). */
function cellColours(svg: string, columns: number, cells: number): string[] {
  const colours: string[] = [];
  for (const match of svg.matchAll(/<rect x="(\d+)" y="(\d+)" width="(\d+)" height="11" fill="(#[0-9a-f]{6})"\/>/g)) {
    const [x, y, width] = [match[1], match[2], match[3]].map(Number) as [number, number, number];
    for (let i = 0; i < width / SVG_CELL; i++)
      colours[(y / SVG_CELL) * columns + x / SVG_CELL + i] = match[4] as string;
  }
  return colours.slice(0, cells);
}

describe('vdisk map --output=svg', () => {
  it('draws one cell per sector of a small disk: data where it was written, holes elsewhere', async () => {
    // 2016 sectors, so 2016 cells of 512 bytes in rows of 64.
    const disk = 2016 * 512;
    const written = [5, 6, 7, 100, 2015];
    const file = join(dir, 'small.bochs');
    await writeFile(
      file,
      buildBochsImage({
        diskSize: disk,
        writes: written.map((sector) => ({ offset: sector * 512, data: new Uint8Array(512).fill(sector % 251) })),
      }),
    );
    const result = await runVdisk(['map', '--output=svg', file]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(result.stdout).toContain(`${file}: 0.984 MiB (${disk} bytes), one cell = 512 B`);
    const colours = cellColours(result.stdout, 64, 2016);
    expect(colours).toHaveLength(2016);
    for (let sector = 0; sector < 2016; sector++) {
      expect(colours[sector], `cell ${sector}`).toBe(
        written.includes(sector) ? MAP_COLOURS.data.whole : MAP_COLOURS.hole.whole,
      );
    }
  });

  it('sums a large disk into at most 4096 cells, a cell with some data drawn as partly data', async () => {
    // 1 GiB: 4096 cells of 256 KiB. Sector 0 and the whole of cell 4095 hold data.
    const disk = 1024 ** 3;
    const file = join(dir, 'large.bochs');
    await writeFile(
      file,
      buildBochsImage({
        diskSize: disk,
        writes: [
          { offset: 0, data: new Uint8Array(512).fill(1) },
          { offset: disk - 256 * 1024, data: new Uint8Array(256 * 1024).fill(2) },
        ],
      }),
    );
    const result = await runVdisk(['map', '--output=svg', file]);
    expect(result.code).toBe(0);
    const colours = cellColours(result.stdout, 64, 4096);
    expect(colours[0]).toBe(MAP_COLOURS.data.part);
    expect(colours[4095]).toBe(MAP_COLOURS.data.whole);
    expect(colours.slice(1, 4095).every((c) => c === MAP_COLOURS.hole.whole)).toBe(true);
  });

  it('is refused for a command without it', async () => {
    const result = await runVdisk(['info', '--output=svg', 'x']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("option '--output <format>' argument 'svg' is invalid");
  });
});
