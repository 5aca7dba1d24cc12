// The long kill -9 soak: packages/cli/test/io-kill.test.ts with many more runs than CI's
// slice. `vdisk io` is killed with SIGKILL at that many random moments of a script of
// writes and flushes, on a Bochs image (and a third as many on raw); every killed image must
// open in vdisk and qemu-img, check with at most leaks, and keep every acknowledged write.
//
//   node scripts/kill-soak.mjs [RUNS] [SEED]      (default 100 runs, a seed from the clock)
//
// Build first (`pnpm build`): the test runs the bundled CLI.
import { spawnSync } from 'node:child_process';

const runs = process.argv[2] ?? '100';
const seed = process.argv[3] ?? String(Date.now() % 100000);
console.log(`kill -9 soak: ${runs} runs, seed ${seed}`);
const result = spawnSync('pnpm', ['vitest', 'run', '--project', 'cli', 'packages/cli/test/io-kill.test.ts'], {
  stdio: 'inherit',
  env: { ...process.env, VDISK_KILL_RUNS: runs, VDISK_KILL_SEED: seed },
});
process.exit(result.status ?? 1);
