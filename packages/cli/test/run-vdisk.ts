import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The built, bundled CLI: CLI tests run what users run. */
export const VDISK = fileURLToPath(new URL('../dist/bundle/vdisk.mjs', import.meta.url));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Spawns `vdisk ARGS...` and collects its output. */
export function vdisk(args: string[], options: { cwd?: string } = {}): Promise<Run> {
  if (!existsSync(VDISK)) throw new Error(`${VDISK} is missing: run pnpm build first`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [VDISK, ...args], { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
