import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { HOSTILE_IMAGES, type HostileImage } from '@vdisk/format-bochs/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The CLI on every hostile image: the outcome the corpus table expects, errors as one
// line `vdisk: FILE: MESSAGE` with the command's error code (CONTRACT.md), no stack trace,
// and the image unchanged, byte for byte and mtime, after every command. `map` and
// `check` are included as soon as `vdisk --help` lists them.

const VDISK = resolve(import.meta.dirname, '../dist/bundle/vdisk.cjs');
const dir = mkdtempSync(join(tmpdir(), 'vdisk-hostile-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function vdisk(...args: string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(process.execPath, [VDISK, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const fileOf = (c: HostileImage) => join(dir, `${c.name}.img`);
const fingerprint = (file: string) => `${sha256(readFileSync(file))} ${statSync(file).mtimeMs}`;

/** An error is one line, `vdisk: FILE: MESSAGE`, and never a stack trace. */
function expectErrorLine(run: Run, file: string, message?: string): void {
  expect(run.stderr).toMatch(/^vdisk: .*\n$/);
  expect(run.stderr.split('\n')).toHaveLength(2);
  expect(run.stderr).not.toMatch(/^\s+at /m);
  expect(run.stderr).not.toContain('internal error');
  expect(run.stderr.startsWith(`vdisk: ${file}: `)).toBe(true);
  if (message !== undefined) expect(run.stderr).toBe(`vdisk: ${file}: ${message}\n`);
}

const opens = (c: HostileImage) => typeof c.qemu.open === 'number';
/** What vdisk probes an image as: QEMU's answer, but for the Bochs family's other formats. */
const probedAs = (c: HostileImage) => c.vdisk?.probe ?? c.qemu.probe;
const before = new Map<string, string>();
let commands: string[] = [];

beforeAll(async () => {
  for (const c of HOSTILE_IMAGES) {
    const file = fileOf(c);
    writeFileSync(file, c.bytes());
    before.set(file, fingerprint(file));
  }
  const help = await vdisk('--help');
  commands = ['map', 'check'].filter((name) => new RegExp(`^\\s+${name}\\b`, 'm').test(help.stdout));
  if (commands.length < 2)
    console.warn(
      `hostile CLI tests: vdisk has no ${['map', 'check'].filter((n) => !commands.includes(n)).join(' or ')} command yet; not run`,
    );
}, 60_000);

describe('vdisk on hostile images', () => {
  it('probe: one line per file, in order, bochs or a guessed raw; nothing on stderr', async () => {
    const files = HOSTILE_IMAGES.map(fileOf);
    const run = await vdisk('probe', '--output=json', ...files);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const lines = run.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines.map((l) => [l.filename, l.format, l.guessed])).toEqual(
      HOSTILE_IMAGES.map((c) => [fileOf(c), probedAs(c), probedAs(c) === 'raw']),
    );
  });

  for (const c of HOSTILE_IMAGES) {
    // 30 s: the 8 TiB cases map 131072 windows, seconds on a loaded machine.
    it(`${c.name}: info, convert${commands.length ? '' : ' (and map, check when they exist)'}`, {
      timeout: 30_000,
    }, async () => {
      const file = fileOf(c);
      // info probes, as a user would run it.
      const info = await vdisk('info', '--output=json', file);
      if (probedAs(c) === 'bochs-redolog') {
        // A redolog named otherwise than BASE.redolog, and no -o base: nothing to read it over.
        expect(info.code).toBe(1);
        expectErrorLine(info, file);
      } else if (c.qemu.probe === 'bochs' && !opens(c)) {
        expect(info.code).toBe(1);
        expectErrorLine(info, file, c.qemu.open as string);
      } else {
        expect(info.code, info.stderr).toBe(0);
        expect(JSON.parse(info.stdout)).toMatchObject({ format: c.qemu.probe });
        if (c.qemu.probe === 'bochs') expect(JSON.parse(info.stdout)['virtual-size']).toBe(c.qemu.open);
      }

      const expected = c.vdisk?.convert ?? c.qemu.convert;
      if (!opens(c) || expected !== undefined) {
        const out = join(dir, `${c.name}.raw`);
        const convert = await vdisk('convert', '-f', 'bochs', '-O', 'raw', file, out);
        if (!opens(c)) {
          expect(convert.code).toBe(1);
          expectErrorLine(convert, file, c.qemu.open as string);
        } else if (expected !== undefined && /^E[A-Z]+$/.test(expected)) {
          expect(convert.code).toBe(1);
          expectErrorLine(convert, file);
        } else {
          expect(convert.code, convert.stderr).toBe(0);
          expect(sha256(readFileSync(out))).toBe(expected);
        }
        rmSync(out, { force: true });
      }

      if (commands.includes('map')) {
        const map = await vdisk('map', '-f', 'bochs', '--output=json', file);
        if (map.code === 0) {
          expect(map.stderr).toBe('');
        } else {
          expect(map.code).toBe(1);
          expectErrorLine(map, file, opens(c) ? undefined : (c.qemu.open as string));
        }
      }
      if (commands.includes('check')) {
        const check = await vdisk('check', '-f', 'bochs', file);
        if (!opens(c)) {
          expect(check.code).toBe(1);
          expectErrorLine(check, file, c.qemu.open as string);
        } else {
          expect(check.code, check.stderr).toBe({ clean: 0, corruption: 2, leaks: 3 }[c.check ?? 'clean']);
        }
      }

      // Reading never writes.
      expect(fingerprint(file)).toBe(before.get(file));
    });
  }

  it('--debug adds the stack trace that is otherwise never shown', async () => {
    const c = HOSTILE_IMAGES.find((image) => image.name === 'extent-0') as HostileImage;
    const run = await vdisk('--debug', 'info', fileOf(c));
    expect(run.code).toBe(1);
    expect(run.stderr.startsWith(`vdisk: ${fileOf(c)}: Extent size must be at least 512\n`)).toBe(true);
    expect(run.stderr).toMatch(/^\s+at /m);
  });
});
