import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildBochsImage } from '@vdisk/format-bochs/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VDISK, vdisk } from './vdisk-process.js';

const PLUGIN = new URL('./fixtures/tpf-plugin.mjs', import.meta.url).pathname;
const CODE_CACHE = new URL('../dist/code-cache.js', import.meta.url).pathname;
let dir: string;
const path = (name: string) => join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vdisk-probe-'));
  await writeFile(path('disk.bochs'), buildBochsImage({ diskSize: 10 * 1024 * 1024 }));
  await writeFile(path('disk.raw'), new Uint8Array(4096).fill(0x33));
  await writeFile(path('empty.img'), new Uint8Array());
  const tpf = new Uint8Array(1536);
  tpf.set(new TextEncoder().encode('TPF1'));
  tpf[4] = 2;
  await writeFile(path('disk.tpf'), tpf);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('vdisk probe', () => {
  it('names the winner and its score, one line per file', async () => {
    const run = await vdisk(['probe', path('disk.bochs'), path('disk.raw'), path('empty.img')]);
    expect(run).toEqual({
      code: 0,
      stdout: [
        `${path('disk.bochs')}: bochs (score 100)`,
        `${path('disk.raw')}: raw (score 1, guessed: no other format matched)`,
        `${path('empty.img')}: raw (score 1, guessed: no other format matched)`,
        '',
      ].join('\n'),
      stderr: '',
    });
  });

  it('prints one JSON object per file with every driver score', async () => {
    const run = await vdisk(['probe', '--output=json', path('disk.bochs'), path('disk.raw'), path('empty.img')]);
    expect(run.code).toBe(0);
    const lines = run.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toEqual([
      {
        filename: path('disk.bochs'),
        format: 'bochs',
        score: 100,
        scores: { raw: 1, bochs: 100, 'bochs-sparse': 0, 'bochs-redolog': 0, vpc: 0, vdi: 0, vmdk: 0 },
        guessed: false,
      },
      {
        filename: path('disk.raw'),
        format: 'raw',
        score: 1,
        scores: { raw: 1, bochs: 0, 'bochs-sparse': 0, 'bochs-redolog': 0, vpc: 0, vdi: 0, vmdk: 0 },
        guessed: true,
      },
      // A 0-byte file is raw without asking the other drivers, as QEMU does.
      { filename: path('empty.img'), format: 'raw', score: 1, scores: { raw: 1 }, guessed: true },
    ]);
  });

  it('probes a format from a plugin: the test-only format, with no change to vdisk', async () => {
    const run = await vdisk(['--plugin', PLUGIN, 'probe', '--output=json', path('disk.tpf'), path('disk.raw')]);
    expect(run.code).toBe(0);
    expect(
      run.stdout
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual([
      {
        filename: path('disk.tpf'),
        format: 'tpf',
        score: 80,
        scores: { raw: 1, bochs: 0, 'bochs-sparse': 0, 'bochs-redolog': 0, vpc: 0, vdi: 0, vmdk: 0, tpf: 80 },
        guessed: false,
      },
      {
        filename: path('disk.raw'),
        format: 'raw',
        score: 1,
        scores: { raw: 1, bochs: 0, 'bochs-sparse': 0, 'bochs-redolog': 0, vpc: 0, vdi: 0, vmdk: 0, tpf: 0 },
        guessed: true,
      },
    ]);
  });

  it('reports an unreadable file on one line, goes on with the others, and exits 1', async () => {
    const run = await vdisk(['probe', path('missing.img'), path('disk.bochs'), dir]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe(`${path('disk.bochs')}: bochs (score 100)\n`);
    expect(run.stderr).toBe(
      `vdisk: ${path('missing.img')}: No such file or directory\nvdisk: ${dir}: Is a directory\n`,
    );
  });

  it('prints no JSON line for a file that cannot be read', async () => {
    const run = await vdisk(['probe', '--output=json', path('missing.img')]);
    expect(run).toMatchObject({
      code: 1,
      stdout: '',
      stderr: `vdisk: ${path('missing.img')}: No such file or directory\n`,
    });
  });

  it('runs a plain `probe [--output FMT] FILE...` (without commander) exactly as commander does', async () => {
    // bin sends probe with files and --output to fast-probe, anything else to commander:
    // `--` (the end of options, no change to the result) sends the same command to commander.
    const cases = [
      [path('disk.bochs'), path('disk.raw')],
      [path('missing.img'), path('disk.bochs'), dir],
      [''],
    ].flatMap((files) => [[], ['--output=json'], ['--output', 'human']].map((options) => ({ files, options })));
    await Promise.all(
      cases.map(async ({ files, options }) => {
        const plain = await vdisk(['probe', ...options, ...files]);
        expect(plain.stdout + plain.stderr).not.toBe('');
        expect(await vdisk(['probe', ...options, '--', ...files])).toEqual(plain);
      }),
    );
  }, 30_000);

  it("ships fast-probe's V8 code cache, made for its source, which this Node accepts", () => {
    // The build names the cache by the source's hash (V8 checks only the length); a cache
    // this Node refused would leave probe correct but ~4 ms slower to start.
    const bundle = dirname(VDISK);
    const caches = readdirSync(bundle).filter((name) => name.endsWith('.v8-cache'));
    expect(caches).toHaveLength(1);
    const script = `import { requireWithCodeCache } from ${JSON.stringify(CODE_CACHE)};
      process.argv = [process.argv[0], ${JSON.stringify(VDISK)}, 'probe', ${JSON.stringify(path('disk.bochs'))}];
      const run = requireWithCodeCache(${JSON.stringify(join(bundle, 'fast-probe.cjs'))}, ${JSON.stringify(join(bundle, caches[0] as string))});
      process.stderr.write('rejected: ' + run.cacheRejected);`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(run).toMatchObject({
      status: 0,
      stdout: `${path('disk.bochs')}: bochs (score 100)\n`,
      stderr: 'rejected: false',
    });
  });
});
