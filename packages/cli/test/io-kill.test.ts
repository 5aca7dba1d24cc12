import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peerPaths, REQUIRE_INTEROP, run } from './interop/peers.js';
import { freshImage, makeKillScript, runAndKill, seededRandom, verifyImage } from './kill-during-writes.js';
import { assertBuilt, runVdisk } from './vdisk-process.js';

/**
 * kill -9 during `vdisk io`: the short slice that CI runs (scripts/kill-soak.mjs runs the
 * same for as long as asked). Each run kills at a random moment; the image must then open
 * in vdisk and qemu-img, `vdisk check` must exit 0 or 3 (leaks at most), and every write
 * whose `wrote` line was printed must read back.
 */
const RUNS = Number(process.env.VDISK_KILL_RUNS ?? 8);
const SEED = Number(process.env.VDISK_KILL_SEED ?? Date.now() % 100000);
const DISK = 16 * 1024 * 1024;
const WRITES = 200;

let dir: string;
beforeAll(async () => {
  assertBuilt();
  dir = join(tmpdir(), `vdisk-io-kill-${process.pid}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const qemuImg = peerPaths['qemu-img'];
if (!qemuImg) {
  if (REQUIRE_INTEROP) throw new Error('VDISK_REQUIRE_INTEROP=1 but qemu-img is missing');
  console.warn('[io-kill] qemu-img is missing: the killed images are not opened in qemu-img');
}

describe.each([
  ['bochs', RUNS],
  ['raw', Math.max(1, Math.floor(RUNS / 3))],
])('vdisk io killed with SIGKILL while writing a %s image', (format, runs) => {
  it(`${runs} random moments: the image opens, checks with at most leaks, and keeps every acknowledged write (seed ${SEED})`, {
    timeout: 60_000 + runs * 10_000,
  }, async () => {
    const template = join(dir, `template.${format}`);
    expect((await runVdisk(['create', '-f', format, template, String(DISK)])).code).toBe(0);
    const random = seededRandom(SEED + format.length);
    let killedEarly = 0;
    let provedItCanFail = false;
    for (let i = 0; i < runs; i++) {
      const script = makeKillScript(random, DISK, WRITES);
      const image = join(dir, `killed-${i}.${format}`);
      await freshImage(template, image);
      const killAfter = i === 0 ? 0 : Math.floor(random() * WRITES);
      const outcome = await runAndKill(image, format, script, killAfter, random);
      if (outcome.killedEarly) killedEarly++;
      const where = `run ${i} (seed ${SEED}), killed after ${outcome.acknowledged} writes`;

      const qemu = qemuImg ? await run(qemuImg, ['info', '-f', format, image]) : { code: 0, stderr: '' };
      expect(qemu.code, `${where}: qemu-img info: ${qemu.stderr}`).toBe(0);
      // vdisk's check and read-back through the library (the code `vdisk check` runs), to
      // spare a process start per run; the last image goes through the built CLI too.
      const result = await verifyImage(image, format, script, outcome.acknowledged);
      expect(result.difference, where).toBeUndefined();
      expect(result.corruptions, `${where}: ${result.problems}`).toBe(0);
      if (outcome.killedEarly && outcome.acknowledged + 2 <= script.writes.length && !provedItCanFail) {
        // The model is strict: claiming two more writes than were printed (the second of
        // which cannot have started) is caught.
        const wrong = await verifyImage(image, format, script, outcome.acknowledged + 2);
        expect(wrong.difference, `${where}: the check would pass a lost write`).toBeDefined();
        provedItCanFail = true;
      }
      if (i === runs - 1) {
        const check = await runVdisk(['check', '-f', format, image]);
        expect(format === 'bochs' ? [0, 3] : [63], `${where}: ${check.stdout}`).toContain(check.code);
      }
      await rm(image);
    }
    // The moments must mostly fall inside the script, not after it.
    expect(killedEarly).toBeGreaterThanOrEqual(Math.ceil(runs / 2));
    expect(provedItCanFail).toBe(true);
  });
});
