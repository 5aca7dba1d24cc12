/**
 * Every code snippet in the README and the docs runs, as a reader would run it. TypeScript
 * and JavaScript snippets are type-checked together with tsc, compiled with esbuild and run
 * with node (a snippet that defines conformance tests runs under vitest); `sh` snippets run
 * in bash; `console` snippets run each `$ command` and must print exactly the lines that
 * follow it. They run in a temporary directory whose node_modules holds this workspace's
 * packages (built) and the format template as `vdisk-format-example`, with `vdisk` on the
 * PATH and a Bochs image named `disk.img`. A snippet that cannot run says why, in a
 * `<!-- snippet: not run (REASON) -->` line just before it.
 */
import { execFile } from 'node:child_process';
import { copyFile, cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, VDISK } from './vdisk-process.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface Snippet {
  file: string;
  line: number;
  lang: string;
  code: string;
  /** Why it is not run, from its marker. */
  notRun?: string;
}

const RUN_LANGS = new Set(['ts', 'js', 'sh', 'console']);

async function docFiles(): Promise<string[]> {
  const files = ['README.md', 'templates/format/README.md', 'packages/cli/test/interop/README.md'];
  for (const name of await readdir(join(ROOT, 'docs'))) if (name.endsWith('.md')) files.push(`docs/${name}`);
  for (const name of await readdir(join(ROOT, 'packages'))) files.push(`packages/${name}/README.md`);
  const present: string[] = [];
  for (const file of files) {
    if (
      await readFile(join(ROOT, file)).then(
        () => true,
        () => false,
      )
    )
      present.push(file);
  }
  return present;
}

function extract(file: string, text: string): Snippet[] {
  const lines = text.split('\n');
  const snippets: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w+)\s*$/.exec(lines[i] as string);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !(lines[i] as string).startsWith('```'); i++) body.push(lines[i] as string);
    const lang = open[1] as string;
    if (!RUN_LANGS.has(lang)) continue;
    const marker = /^<!-- snippet: not run \((.+)\) -->$/.exec((lines[start - 1] ?? '').trim());
    snippets.push({ file, line: start + 1, lang, code: `${body.join('\n')}\n`, notRun: marker?.[1] });
  }
  return snippets;
}

const snippets: Snippet[] = [];
for (const file of await docFiles()) snippets.push(...extract(file, await readFile(join(ROOT, file), 'utf8')));
const runnable = snippets.filter((s) => !s.notRun);
const typescript = runnable.filter((s) => s.lang === 'ts' || s.lang === 'js');

let dir: string;
let env: NodeJS.ProcessEnv;
const fileOf = (snippet: Snippet) => {
  const base = `${snippet.file.replace(/[^a-z0-9]+/gi, '-')}-${snippet.line}`;
  return /runDriverConformance\(/.test(snippet.code) ? `${base}.test` : base;
};

function run(
  command: string,
  args: string[],
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(command, args, { cwd: dir, env, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

beforeAll(async () => {
  assertBuilt();
  dir = await mkdtemp(join(tmpdir(), 'vdisk-snippets-'));
  const modules = join(dir, 'node_modules');
  await mkdir(join(modules, '@vdisk'), { recursive: true });
  await mkdir(join(modules, '@types'));
  for (const name of [
    'core',
    'format-raw',
    'format-bochs',
    'conformance',
    'nbd',
    'format-vpc',
    'format-vdi',
    'format-vmdk',
  ]) {
    await symlink(join(ROOT, 'packages', name), join(modules, '@vdisk', name));
  }
  await symlink(join(ROOT, 'packages/core/node_modules/inversify'), join(modules, 'inversify'));
  await symlink(join(ROOT, 'node_modules/@types/node'), join(modules, '@types/node'));
  // A copy, so that its own imports resolve to the packages above.
  await cp(join(ROOT, 'templates/format'), join(modules, 'vdisk-format-example'), { recursive: true });
  await writeFile(join(dir, 'package.json'), '{ "name": "snippets", "private": true, "type": "module" }\n');
  await copyFile(join(ROOT, 'examples/hello.bochs'), join(dir, 'disk.img'));
  await mkdir(join(dir, 'examples'));
  await copyFile(join(ROOT, 'examples/hello.bochs'), join(dir, 'examples/hello.bochs'));
  await copyFile(join(ROOT, 'README.md'), join(dir, 'README.md'));
  await mkdir(join(dir, 'bin'));
  await writeFile(join(dir, 'bin/vdisk'), `#!/bin/sh\nexec "${process.execPath}" "${VDISK}" "$@"\n`, { mode: 0o755 });
  env = { PATH: `${join(dir, 'bin')}${delimiter}${process.env.PATH}`, HOME: dir, NO_COLOR: '1' };
  for (const snippet of typescript) await writeFile(join(dir, `${fileOf(snippet)}.ts`), snippet.code);
  await writeFile(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        allowJs: true,
        checkJs: false,
        skipLibCheck: true,
        types: ['node'],
        moduleDetection: 'force',
        // The template is JavaScript with JSDoc types: read its types from its sources.
        maxNodeModuleJsDepth: 5,
      },
      include: ['*.ts'],
    }),
  );
}, 60_000);
afterAll(() => (dir ? rm(dir, { recursive: true, force: true }) : undefined));

describe('the snippets of the README and the docs', () => {
  it('are found, and each one that is not run says why', () => {
    expect(runnable.length).toBeGreaterThan(10);
    for (const file of ['README.md', 'docs/embedding.md', 'docs/writing-a-driver.md']) {
      expect(
        runnable.some((s) => s.file === file),
        file,
      ).toBe(true);
    }
    for (const s of snippets.filter((x) => x.notRun))
      expect(s.notRun?.length, `${s.file}:${s.line}`).toBeGreaterThan(10);
  });

  it('type-check, the TypeScript ones, against the packages’ declarations', { timeout: 60_000 }, async () => {
    const result = await run(join(ROOT, 'node_modules/.bin/tsc'), ['-p', '.']);
    expect(result.stdout, 'tsc').toBe('');
    expect(result.code).toBe(0);
  });

  for (const snippet of runnable) {
    const where = `${snippet.file}:${snippet.line}`;
    it(`${where} (${snippet.lang}) runs`, { timeout: 60_000 }, async () => {
      if (snippet.lang === 'ts' || snippet.lang === 'js') {
        const name = `${fileOf(snippet)}.mjs`;
        const { code } = transformSync(snippet.code, { loader: 'ts', format: 'esm', target: 'node20' });
        await writeFile(join(dir, name), code);
        const result = name.includes('.test.')
          ? await run(process.execPath, [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--root', dir, name])
          : await run(process.execPath, [name]);
        expect(result.code, `${where}\n${result.stderr}${result.stdout}`).toBe(0);
        if (name.includes('.test.')) expect(result.stdout).toMatch(/Tests\s+\d+ passed/);
      } else if (snippet.lang === 'sh') {
        const result = await run('bash', ['-euo', 'pipefail', '-c', snippet.code]);
        expect(result.code, `${where}\n${result.stderr}`).toBe(0);
      } else {
        // console: `$ command` lines and the output each must print.
        const steps: Array<{ command: string; output: string[] }> = [];
        for (const line of snippet.code.replace(/\n$/, '').split('\n')) {
          if (line.startsWith('$ ')) steps.push({ command: line.slice(2), output: [] });
          else steps[steps.length - 1]?.output.push(line);
        }
        // qemu-io's timing lines (`4 KiB, 1 ops; 00.00 sec (...)`) are masked, as every test does.
        const mask = (text: string) => text.replace(/^\S+ (bytes|[KMGTPE]iB), \d+ ops; .* sec \(.*\)$/gm, '<timing>');
        for (const { command, output } of steps) {
          const result = await run('bash', ['-c', command]);
          expect({ command, code: result.code, stdout: mask(result.stdout) }).toEqual({
            command,
            code: 0,
            stdout: mask(output.length > 0 ? `${output.join('\n')}\n` : ''),
          });
        }
      }
    });
  }
});
