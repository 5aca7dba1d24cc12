/**
 * The NBD clients and server that `vdisk serve` is checked against (libnbd-bin's nbdinfo
 * and nbdcopy, python3-libnbd's nbdsh, qemu-utils' qemu-nbd, besides peers.ts's tools).
 *
 * `describeNbdInterop` is `describeInterop` with these tools too: it skips with a warning
 * that names what is missing, or fails under VDISK_REQUIRE_INTEROP=1 (CI).
 */
import { execFile, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { describe, it } from 'vitest';
import { missingPeers, REQUIRE_INTEROP, type RunResult, run } from './peers.js';

export { type Served, serve } from '../serve-process.js';

export const NBD_TOOLS = ['qemu-nbd', 'nbdinfo', 'nbdcopy', 'nbdsh'] as const;
export type NbdTool = (typeof NBD_TOOLS)[number];

function onPath(tool: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return join(dir, tool);
    } catch {
      // not here
    }
  }
  return undefined;
}

const nbdPaths = Object.fromEntries(NBD_TOOLS.map((tool) => [tool, onPath(tool)])) as Record<
  NbdTool,
  string | undefined
>;
/**
 * nbdsh is `python3 -mnbd`: it needs a python3 that has python3-libnbd's module. Debian's
 * /usr/bin/python3 has it; a python3 earlier on the PATH (pyenv's) may not.
 */
const nbdshPythonDir = [onPath('python3'), '/usr/bin/python3']
  .filter((python): python is string => python !== undefined)
  .find((python) => spawnSync(python, ['-c', 'import nbd'], { stdio: 'ignore' }).status === 0);
const missing = [
  ...missingPeers,
  ...NBD_TOOLS.filter((tool) => nbdPaths[tool] === undefined),
  ...(nbdshPythonDir === undefined ? ['python3-libnbd'] : []),
];
const INSTALL_HINT = 'install them with: apt-get install -y qemu-utils bximage libnbd-bin python3-libnbd';

export function describeNbdInterop(name: string, body: () => void): void {
  if (missing.length === 0) {
    describe(name, body);
    return;
  }
  if (REQUIRE_INTEROP) {
    describe(name, () => {
      it('has the NBD interop peers on the PATH', () => {
        throw new Error(`VDISK_REQUIRE_INTEROP=1 but the NBD peers are missing ${missing.join(', ')}: ${INSTALL_HINT}`);
      });
    });
    return;
  }
  console.warn(`[interop] skipping "${name}": missing ${missing.join(', ')} (${INSTALL_HINT})`);
  describe.skip(name, body);
}

/** Runs an NBD tool (never throws on a non-zero exit). */
export function nbdTool(tool: NbdTool, args: readonly string[]): Promise<RunResult> {
  const path = nbdPaths[tool];
  if (path === undefined) throw new Error(`${tool} is not installed: ${INSTALL_HINT}`);
  if (tool !== 'nbdsh') return run(path, args);
  const env = { ...process.env, PATH: `${dirname(nbdshPythonDir as string)}${delimiter}${process.env.PATH ?? ''}` };
  return new Promise((resolve, reject) => {
    execFile(path, args, { encoding: 'utf8', env }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') reject(error);
      else resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

/** The `serve` arguments for a transport: a socket in `dir`, or any free port on 127.0.0.1. */
export function listenArgs(transport: 'unix' | 'tcp', dir: string, name = 'nbd.sock'): string[] {
  return transport === 'unix' ? ['--socket', join(dir, name)] : ['--port', '0'];
}

/** A map run as seen through NBD, where only virtual offsets exist. */
export interface ZeroDataRun {
  start: number;
  length: number;
  zero: boolean;
  data: boolean;
}

/** Runs by (start, length, zero, data), adjacent runs of the same kind merged. */
export function normalizeMap(runs: readonly ZeroDataRun[]): ZeroDataRun[] {
  const merged: ZeroDataRun[] = [];
  for (const { start, length, zero, data } of runs) {
    const last = merged[merged.length - 1];
    if (last && last.zero === zero && last.data === data && last.start + last.length === start) last.length += length;
    else merged.push({ start, length, zero, data });
  }
  return merged;
}
