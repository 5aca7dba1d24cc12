/**
 * vdisk as a user gets it, outside this workspace: every package packed with `pnpm pack`
 * and installed with plain npm into a temporary directory that cannot see the workspace's
 * node_modules. There: the CLI from PATH (`npm install -g ./vdisk-cli-*.tgz`, as the README
 * says), the library with its exports and types, the format template copied out, installed,
 * type-checked and tested with its own vitest (the conformance suite from a third party's
 * project), and loaded into the CLI as a plugin by path and by package name, its errors
 * printed as one line; and a single-file plugin with no node_modules, which shares the
 * CLI's own core. Needs the npm registry for the packages' own dependencies (inversify,
 * vitest), as any user does.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt } from './vdisk-process.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PACKAGES = ['core', 'format-raw', 'format-bochs', 'conformance', 'cli'];
const HELLO = join(ROOT, 'examples/hello.bochs');
const TSC = join(ROOT, 'node_modules/.bin/tsc');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** An environment with nothing of the workspace or of the test runner in it. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(VITEST|NODE_OPTIONS|NODE_PATH|npm_|PNPM|TEST|FORCE_COLOR)/i.test(key)) env[key] = value;
  }
  return { ...env, NO_COLOR: '1', ...extra };
}

function run(command: string, args: string[], cwd: string, env = cleanEnv()): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function ok(command: string, args: string[], cwd: string, env?: NodeJS.ProcessEnv): Promise<string> {
  const result = await run(command, args, cwd, env);
  if (result.code !== 0)
    throw new Error(`${command} ${args.join(' ')} (in ${cwd}) failed:\n${result.stderr}${result.stdout}`);
  return result.stdout;
}

const npmInstall = (cwd: string, args: string[]) =>
  ok('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...args], cwd);

let dir: string;
let packs: Record<string, string>;
/** PATH with the global install's bin first. */
let userEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
  assertBuilt();
  dir = await mkdtemp(join(tmpdir(), 'vdisk-installed-'));
  if (dir.startsWith(ROOT)) throw new Error(`${dir} is inside the workspace`);
  const packDir = join(dir, 'packs');
  await mkdir(packDir);
  await Promise.all(
    PACKAGES.map((name) => ok('pnpm', ['pack', '--pack-destination', packDir], join(ROOT, 'packages', name))),
  );
  const files = await readdir(packDir);
  packs = Object.fromEntries(
    PACKAGES.map((name) => [name, join(packDir, files.find((f) => f.startsWith(`vdisk-${name}-`)) as string)]),
  );

  // The README's way onto PATH, into a prefix of its own instead of the machine's.
  const prefix = join(dir, 'global');
  await ok(
    'npm',
    ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--loglevel=error', packs.cli as string],
    dir,
  );
  userEnv = cleanEnv({ PATH: `${join(prefix, 'bin')}${delimiter}${process.env.PATH}` });

  // The template, copied out and installed with the packed core and conformance suite.
  await cp(join(ROOT, 'templates/format'), join(dir, 'my-format'), { recursive: true });
  await npmInstall(join(dir, 'my-format'), [packs.core as string, packs.conformance as string]);

  // An application using the library.
  await mkdir(join(dir, 'app'));
  await writeFile(join(dir, 'app/package.json'), '{ "name": "app", "private": true, "type": "module" }\n');
  // @vdisk/core/node's declarations use Node's types, as any Node library's do.
  await npmInstall(join(dir, 'app'), [
    packs.core as string,
    packs['format-raw'] as string,
    packs['format-bochs'] as string,
    '@types/node@20',
  ]);
}, 240_000);
// VDISK_KEEP_INSTALLED=1 keeps the directory, to look into a failure.
afterAll(() => (dir && !process.env.VDISK_KEEP_INSTALLED ? rm(dir, { recursive: true, force: true }) : undefined));

const vdisk = (args: string[], cwd = dir) => run('vdisk', args, cwd, userEnv);

describe('the packed packages', () => {
  it('rewrite workspace: dependencies and export only files they contain', async () => {
    for (const [name, tarball] of Object.entries(packs)) {
      const listing = new Set((await ok('tar', ['-tzf', tarball], dir)).split('\n').filter(Boolean));
      const manifest = JSON.parse(await ok('tar', ['-xzOf', tarball, 'package/package.json'], dir));
      const deps = { ...manifest.dependencies, ...manifest.peerDependencies, ...manifest.devDependencies };
      for (const [dep, range] of Object.entries(deps)) {
        expect(range, `${name}: ${dep}`).not.toMatch(/^workspace:/);
      }
      const targets: string[] = [];
      const collect = (value: unknown): void => {
        if (typeof value === 'string') targets.push(value);
        else if (value && typeof value === 'object') Object.values(value).forEach(collect);
      };
      collect(manifest.exports);
      collect(manifest.bin);
      for (const target of targets)
        expect(listing, `${name}: ${target}`).toContain(`package/${target.replace(/^\.\//, '')}`);
      expect(
        [...listing].some((file) => file.endsWith('.test.ts')),
        `${name} ships tests`,
      ).toBe(false);
    }
  });
});

describe('the CLI from PATH', () => {
  it('runs as `vdisk`, with no dependency of its own to install', { timeout: 30_000 }, async () => {
    expect(await vdisk(['--version'])).toEqual({ code: 0, stdout: '0.1.0\n', stderr: '' });
    expect(await vdisk(['probe', HELLO])).toMatchObject({ code: 0, stdout: `${HELLO}: bochs (score 100)\n` });
  });
});

describe('the library, installed with npm', () => {
  it('opens, reads and maps an image through its exports', { timeout: 30_000 }, async () => {
    await writeFile(
      join(dir, 'app/read.mjs'),
      `import { createRegistry, Registry } from '@vdisk/core';
import { openFile, probeFile } from '@vdisk/core/node';
import { bochsModule, BochsDriver } from '@vdisk/format-bochs';
import { rawModule, RawDriver } from '@vdisk/format-raw';
const registry = createRegistry(rawModule, bochsModule);
const probe = await probeFile(new Registry([new RawDriver(), new BochsDriver()]), process.argv[2]);
const disk = await openFile(registry, process.argv[2]);
const bytes = await disk.read(0, 512);
const map = await disk.blockStatus(0, disk.virtualSize);
console.log(JSON.stringify({ format: probe.format, size: disk.virtualSize, first: bytes.slice(0, 5).join(','), runs: map.length }));
await disk.close();
`,
    );
    const out = JSON.parse(await ok('node', ['read.mjs', HELLO], join(dir, 'app')));
    expect(out).toMatchObject({ format: 'bochs', size: 1048576, runs: 6 });
  });

  it('type-checks against the installed declarations', { timeout: 30_000 }, async () => {
    await writeFile(
      join(dir, 'app/typed.ts'),
      `import { type BlockStatusRun, createRegistry, isVdiskError, parseSize } from '@vdisk/core';
import { createReadStream, openFile } from '@vdisk/core/node';
import { bochsModule } from '@vdisk/format-bochs';
const registry = createRegistry(bochsModule);
export async function firstRun(path: string): Promise<BlockStatusRun | undefined> {
  const disk = await openFile(registry, path, { format: 'bochs' });
  createReadStream(disk, { offset: 0, length: parseSize('1k') }).destroy();
  try {
    return (await disk.blockStatus(0, 512))[0];
  } catch (error) {
    if (isVdiskError(error)) return undefined;
    throw error;
  } finally {
    await disk.close();
  }
}
`,
    );
    await writeFile(
      join(dir, 'app/tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          strict: true,
          noEmit: true,
          types: ['node'],
        },
        files: ['typed.ts'],
      }),
    );
    expect(await run(TSC, ['-p', '.'], join(dir, 'app'))).toMatchObject({ code: 0, stdout: '' });
  });
});

describe('a format written outside the repository: the template', () => {
  it('type-checks and passes the conformance suite with its own vitest', { timeout: 60_000 }, async () => {
    const cwd = join(dir, 'my-format');
    expect(await run(TSC, ['-p', '.'], cwd)).toMatchObject({ code: 0, stdout: '' });
    const tests = await run('node', ['node_modules/vitest/vitest.mjs', 'run', '--reporter=verbose'], cwd);
    expect(tests.code, tests.stdout + tests.stderr).toBe(0);
    expect(tests.stdout).toMatch(/example \(with holes\): block driver conformance/);
    expect(tests.stdout).toMatch(/Tests\s+\d+ passed/);
  });

  it('loads into the CLI by path and by package name, its errors on one line', { timeout: 60_000 }, async () => {
    const work = join(dir, 'work');
    await mkdir(work);
    // Images made with the template's own builder: one with data, one of an unknown version.
    await ok(
      'node',
      [
        '--input-type=module',
        '-e',
        `import { writeFileSync } from 'node:fs';
import { buildExampleImage } from '${join(dir, 'my-format/src/testing.js')}';
const disk = new Uint8Array(8 * 4096); disk.fill(7, 4096, 8192);
const image = buildExampleImage(disk);
writeFileSync('disk.example', image);
image[8] = 9; writeFileSync('bad.example', image);`,
      ],
      work,
    );
    const plugin = join(dir, 'my-format/src/index.js');
    expect(await vdisk(['--plugin', plugin, 'probe', 'disk.example'], work)).toMatchObject({
      code: 0,
      stdout: 'disk.example: example (score 100)\n',
    });
    // A relative path without ./ is a path when the file exists.
    expect(
      await vdisk(['--plugin', 'my-format/src/index.js', 'map', '--output=json', 'work/disk.example']),
    ).toMatchObject({
      code: 0,
      stdout: expect.stringContaining(
        '"start": 4096, "length": 4096, "depth": 0, "present": true, "zero": false, "data": true',
      ),
    });
    // Its own copy of core made this error: it prints as the one line it is.
    expect(await vdisk(['--plugin', plugin, 'info', 'bad.example'], work)).toEqual({
      code: 1,
      stdout: '',
      stderr: 'vdisk: bad.example: Unsupported example format version 9\n',
    });
    // As a package installed where the user works.
    const user = join(dir, 'user');
    await mkdir(user);
    await writeFile(join(user, 'package.json'), '{ "name": "user", "private": true }\n');
    await npmInstall(user, [join(dir, 'my-format')]);
    expect(await vdisk(['--plugin', 'vdisk-format-example', 'probe', '../work/disk.example'], user)).toMatchObject({
      code: 0,
      stdout: '../work/disk.example: example (score 100)\n',
    });
    expect(await vdisk(['--plugin', 'no-such-format', 'formats'], user)).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^vdisk: Cannot load plugin 'no-such-format': [^\n]*\n$/),
    });
  });

  it('a single-file plugin with no node_modules shares the CLI’s own core', { timeout: 30_000 }, async () => {
    const lonely = join(dir, 'lonely');
    await mkdir(lonely);
    await writeFile(
      join(lonely, 'plugin.mjs'),
      `import { BLOCK_DRIVER, ImageFormatError } from '@vdisk/core';
import { ContainerModule } from 'inversify';
class Refuser {
  name = 'refuser';
  probe(sector) { return sector[0] === 0x52 ? 50 : 0; }
  async open() { throw new ImageFormatError('Image not in refuser format'); }
}
export const module = new ContainerModule(({ bind }) => bind(BLOCK_DRIVER).to(Refuser));
`,
    );
    await writeFile(join(lonely, 'r.img'), 'R');
    expect(await vdisk(['--plugin', 'plugin.mjs', 'probe', 'r.img'], lonely)).toMatchObject({
      code: 0,
      stdout: 'r.img: refuser (score 50)\n',
    });
    expect(await vdisk(['--plugin', 'plugin.mjs', 'info', 'r.img'], lonely)).toEqual({
      code: 1,
      stdout: '',
      stderr: 'vdisk: r.img: Image not in refuser format\n',
    });
  });
});
