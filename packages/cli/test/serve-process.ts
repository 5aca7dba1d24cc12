/** Runs the built `vdisk serve` in the background, for the CLI and interop tests. */
import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll } from 'vitest';
import { VDISK } from './vdisk-process.js';

/** Servers still running: a test that failed before stopping its server leaves none behind. */
const running = new Set<ChildProcess>();
afterAll(() => {
  for (const child of running) child.kill('SIGKILL');
});

/** A running `vdisk serve`. */
export interface Served {
  /** The URI it printed, for qemu and libnbd. */
  uri: string;
  child: ChildProcess;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /** Sends the signal and resolves with the exit code and stderr once it ended. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; stderr: string }>;
}

/** Starts `vdisk GLOBAL serve ARGS` and resolves once it says where it listens. */
export function serve(args: readonly string[], globalArgs: readonly string[] = []): Promise<Served> {
  const child = spawn(process.execPath, [VDISK, ...globalArgs, 'serve', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  running.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`vdisk serve did not start:\n${stderr}`)), 20_000);
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
      const match = /^vdisk: serving .* on (\S+)$/m.exec(stderr);
      if (!match) return;
      clearTimeout(timer);
      resolve({
        uri: match[1] as string,
        child,
        stderr: () => stderr,
        stop: async (signal = 'SIGTERM') => {
          if (child.exitCode === null) child.kill(signal);
          return { code: await exited, stderr };
        },
      });
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`vdisk serve exited with ${code} before listening:\n${stderr}`));
    });
  });
}
