import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The built, bundled CLI: tests run what users run (`pnpm test` builds it first). */
export const VDISK = fileURLToPath(new URL('../dist/bundle/vdisk.cjs', import.meta.url));

export interface VdiskResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function assertBuilt(): void {
  if (!existsSync(VDISK)) throw new Error(`${VDISK} is missing: run \`pnpm build\` first`);
}

/** Runs `vdisk ARGS` to the end. */
export function runVdisk(args: string[], options: { cwd?: string } = {}): Promise<VdiskResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [VDISK, ...args], { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** `vdisk ARGS`: exit code and output, for tests that compare the whole result. */
export async function vdisk(args: string[], options: { cwd?: string } = {}): Promise<Omit<VdiskResult, 'signal'>> {
  assertBuilt();
  const { code, stdout, stderr } = await runVdisk(args, options);
  return { code, stdout, stderr };
}
