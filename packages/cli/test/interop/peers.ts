/**
 * The real peers that vdisk's Bochs support is checked against: Bochs's own `bximage`, which
 * makes the images, and QEMU's `qemu-img` and `qemu-io`, which read them. Every interop test
 * file goes through this module:
 *
 * - `describeInterop(name, body)` runs `body` when all three tools are on the PATH. When one is
 *   missing it skips with a console warning that names it, or, with `VDISK_REQUIRE_INTEROP=1`
 *   (CI sets it), it registers one failing test instead, so a skip cannot pass unnoticed.
 * - `bximageCreate` / `bximageConvert` make images, working around bximage's quirks.
 * - `qemuImg`, `qemuImgInfo`, `qemuImgConvertToRaw`, `qemuIoRead` ask QEMU.
 * - `vdisk(...)` runs the built and bundled CLI, as a user would.
 * - `makeScratchDir` / `removeScratchDir` hold the files a test file makes.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { mkdtemp, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { describe, it } from 'vitest';

/** The tools the interop suite needs, by the name it runs them under. */
export const PEER_TOOLS = ['bximage', 'qemu-img', 'qemu-io'] as const;
export type PeerTool = (typeof PEER_TOOLS)[number];

/** Set by CI: a missing peer fails the suite instead of skipping it (CONTRACT.md, "Tests, CI and the README"). */
export const REQUIRE_INTEROP = process.env.VDISK_REQUIRE_INTEROP === '1';

/** The built CLI bundle, which the interop tests run (root `pnpm build` writes it). */
export const VDISK_BUNDLE = resolve(import.meta.dirname, '../../dist/bundle/vdisk.cjs');

/** Where each tool was found on the PATH; a missing tool has no entry. */
export const peerPaths: Partial<Record<PeerTool, string>> = findTools(PEER_TOOLS);

/** The tools that are not on the PATH (empty when the suite can run). */
export const missingPeers: PeerTool[] = PEER_TOOLS.filter((tool) => peerPaths[tool] === undefined);

const INSTALL_HINT = 'install them with: apt-get install -y qemu-utils bximage';

/**
 * `describe`, guarded by the peers' presence: runs when bximage, qemu-img and qemu-io are all
 * installed; otherwise skips with a visible warning, or fails when VDISK_REQUIRE_INTEROP=1.
 */
export function describeInterop(name: string, body: () => void): void {
  describeNeeding(missingPeers, INSTALL_HINT, name, body);
}

/**
 * The same guard for any other tools (Bochs and nasm for the emulator tests): `missing` are
 * the ones not on the PATH (see `findTools`), `hint` says how to install them.
 */
export function describeNeeding(missing: readonly string[], hint: string, name: string, body: () => void): void {
  if (missing.length === 0) {
    describe(name, body);
    return;
  }
  const what = `missing ${missing.join(', ')}`;
  if (REQUIRE_INTEROP) {
    describe(name, () => {
      it('has the interop peers on the PATH', () => {
        throw new Error(`VDISK_REQUIRE_INTEROP=1 but the interop peers are ${what}: ${hint}`);
      });
    });
    return;
  }
  console.warn(`[interop] skipping "${name}": ${what} (${hint})`);
  describe.skip(name, body);
}

/** Where each tool was found on the PATH; a missing tool has no entry. */
export function findTools<T extends string>(tools: readonly T[]): Partial<Record<T, string>> {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  const found: Partial<Record<T, string>> = {};
  for (const tool of tools) {
    for (const dir of dirs) {
      const candidate = join(dir, tool);
      try {
        accessSync(candidate, constants.X_OK);
        found[tool] = candidate;
        break;
      } catch {
        // not in this directory
      }
    }
  }
  return found;
}

/** What a finished child process left behind. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion and never throws for a non-zero exit: the caller asserts on `code`. */
export function run(command: string, args: readonly string[]): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    execFile(command, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(error); // could not start it at all (ENOENT, EACCES ...)
        return;
      }
      resolvePromise({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

/** Like `run`, but a non-zero exit throws with the command line and its output. */
export async function runOrThrow(command: string, args: readonly string[]): Promise<RunResult> {
  const result = await run(command, args);
  if (result.code !== 0) {
    throw new Error(
      `${[command, ...args].join(' ')} exited with ${result.code}\n${result.stderr}${result.stdout.slice(-2000)}`,
    );
  }
  return result;
}

function toolPath(tool: PeerTool): string {
  const path = peerPaths[tool];
  if (path === undefined) throw new Error(`${tool} is not installed: ${INSTALL_HINT}`);
  return path;
}

// --- vdisk -------------------------------------------------------------------------------

/** Runs the built `vdisk` with `args` (exit code and output, never throws on a non-zero exit). */
export function vdisk(...args: string[]): Promise<RunResult> {
  if (!existsSync(VDISK_BUNDLE)) {
    throw new Error(`${VDISK_BUNDLE} is missing: run pnpm build first`);
  }
  return run(process.execPath, [VDISK_BUNDLE, ...args]);
}

/** Runs the built `vdisk` and throws when it fails; returns its stdout. */
export async function vdiskOk(...args: string[]): Promise<string> {
  const result = await vdisk(...args);
  if (result.code !== 0) throw new Error(`vdisk ${args.join(' ')} exited with ${result.code}\n${result.stderr}`);
  return result.stdout;
}

// --- bximage -----------------------------------------------------------------------------

export type BximageMode = 'growing' | 'flat';

/**
 * `bximage -func=create`: a new, empty image of `size` (bximage's syntax: `10M`, `1G`).
 * bximage rounds the size down to whole cylinders of 16*63 sectors, and its smallest is 10M.
 * `-hd=` goes before `-imgmode=`: the other way round, bximage 2.7 silently makes a flat image.
 * With `-q` it refuses to overwrite (`End of input`), so the target is deleted first. Its
 * progress bar on stdout is noise, kept only for the error message.
 */
export async function bximageCreate(path: string, size: string, mode: BximageMode = 'growing'): Promise<string> {
  await unlink(path).catch(() => {});
  await runOrThrow(toolPath('bximage'), ['-func=create', `-hd=${size}`, `-imgmode=${mode}`, '-q', path]);
  return path;
}

/**
 * `bximage -func=convert`: an image holding the raw file `source`, which keeps its size
 * exactly. bximage rejects a source that is not a multiple of 512 bytes ("source disk image
 * mode not detected"): this says so clearly instead.
 */
export async function bximageConvert(source: string, path: string, mode: BximageMode = 'growing'): Promise<string> {
  const { size } = await stat(source);
  if (size % 512 !== 0) throw new Error(`bximage cannot convert ${source}: ${size} bytes is not a multiple of 512`);
  await unlink(path).catch(() => {});
  await runOrThrow(toolPath('bximage'), ['-func=convert', `-imgmode=${mode}`, '-q', source, path]);
  return path;
}

// --- qemu-img and qemu-io ------------------------------------------------------------------

/** Runs `qemu-img` with `args` (never throws on a non-zero exit). */
export function qemuImg(...args: string[]): Promise<RunResult> {
  return run(toolPath('qemu-img'), args);
}

/** `qemu-img info --output=json` of the image (format forced with `format`, else probed). */
export async function qemuImgInfo(path: string, format?: string): Promise<Record<string, unknown>> {
  const formatArgs = format ? ['-f', format] : [];
  const { stdout } = await runOrThrow(toolPath('qemu-img'), ['info', ...formatArgs, '--output=json', path]);
  return JSON.parse(stdout) as Record<string, unknown>;
}

/** `qemu-img info` in its human form. */
export async function qemuImgInfoHuman(path: string, format?: string): Promise<string> {
  const formatArgs = format ? ['-f', format] : [];
  return (await runOrThrow(toolPath('qemu-img'), ['info', ...formatArgs, path])).stdout;
}

/** `qemu-img convert -f bochs -O raw`: QEMU's reading of the whole image, as a raw file. */
export async function qemuImgConvertToRaw(image: string, out: string): Promise<string> {
  await runOrThrow(toolPath('qemu-img'), ['convert', '-f', 'bochs', '-O', 'raw', image, out]);
  return out;
}

/** A byte range of a virtual disk. */
export interface ByteRange {
  offset: number;
  length: number;
}

/**
 * The bytes QEMU reads at each range, from one `qemu-io -r -f bochs` process with a
 * `read -v OFFSET LENGTH` command per range. Any offset and length work: QEMU's block layer
 * pads the request to sectors. Each command prints a hex dump, lines of `%08x:` (the absolute
 * offset) then up to 16 ` %02x` then the bytes as text, and then `read N/N bytes at offset X`.
 */
export async function qemuIoRead(image: string, ranges: readonly ByteRange[]): Promise<Uint8Array[]> {
  const commands = ranges.flatMap(({ offset, length }) => ['-c', `read -v ${offset} ${length}`]);
  const { stdout } = await runOrThrow(toolPath('qemu-io'), ['-r', '-f', 'bochs', ...commands, image]);
  const results: Uint8Array[] = [];
  let dump: number[] = [];
  for (const line of stdout.split('\n')) {
    const hex = /^[0-9a-f]{8,16}: ((?: [0-9a-f]{2})+)/.exec(line);
    if (hex) {
      for (const byte of (hex[1] as string).trim().split(/\s+/)) dump.push(Number.parseInt(byte, 16));
      continue;
    }
    const done = /^read (\d+)\/(\d+) bytes at offset (\d+)$/.exec(line);
    if (!done) continue;
    const range = ranges[results.length];
    if (range === undefined || Number(done[3]) !== range.offset || dump.length !== range.length) {
      throw new Error(`qemu-io's output does not match its commands:\n${stdout.slice(0, 4000)}`);
    }
    results.push(Uint8Array.from(dump));
    dump = [];
  }
  if (results.length !== ranges.length) throw new Error(`qemu-io failed:\n${stdout.slice(0, 4000)}`);
  return results;
}

// --- scratch files -----------------------------------------------------------------------

/** A new temporary directory for one test file's images. */
export function makeScratchDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'vdisk-interop-'));
}

/** Removes a scratch directory, unless VDISK_KEEP_INTEROP=1 asks to keep it for a post-mortem. */
export async function removeScratchDir(dir: string | undefined): Promise<void> {
  if (dir === undefined) return;
  if (process.env.VDISK_KEEP_INTEROP === '1') {
    console.warn(`[interop] kept ${dir}`);
    return;
  }
  await rm(dir, { recursive: true, force: true });
}
