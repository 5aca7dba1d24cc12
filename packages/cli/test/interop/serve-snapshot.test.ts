/**
 * `vdisk serve --snapshot` (QEMU's -snapshot, Bochs's volatile mode): an NBD client writes
 * and reads its writes back, and the image file never changes, whatever its format.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { seededBytes } from './disk-contents.js';
import { describeNbdInterop, listenArgs, serve } from './nbd-peers.js';
import { bximageCreate, makeScratchDir, removeScratchDir, run } from './peers.js';

const sha = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

describeNbdInterop('vdisk serve --snapshot', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await makeScratchDir();
  });
  afterAll(() => removeScratchDir(dir));

  const cases: Array<[string, (path: string) => Promise<unknown>, string[]]> = [
    ['a Bochs growing image', (path) => bximageCreate(path, '10M'), ['-f', 'bochs']],
    ['a raw image whose format is guessed', (path) => writeFile(path, seededBytes('snapshot raw', 4 << 20)), []],
  ];
  for (const [what, make, formatArgs] of cases) {
    it(`${what}: qemu-io writes and reads them back; the file is unchanged`, async () => {
      const path = join(dir, `${what.replace(/\W+/g, '-')}.img`);
      await make(path);
      const before = await sha(path);
      const served = await serve([...formatArgs, '--snapshot', ...listenArgs('unix', dir, 'snap.sock'), path]);
      expect(served.stderr()).toMatch(/\(\w+, snapshot, read-write\)/);
      // Sector 0 too: a Bochs header written there reaches only the overlay.
      const io = await run('qemu-io', [
        '-f',
        'raw',
        ...[
          'write -P 0x5a 0 64k',
          'write -P 0xc3 1000000 5000',
          'read -P 0x5a 0 64k',
          'read -P 0xc3 1000000 5000',
        ].flatMap((c) => ['-c', c]),
        served.uri,
      ]);
      const { code } = await served.stop('SIGINT');
      expect(io.stderr).toBe('');
      expect(io.stdout).not.toMatch(/failed|Pattern verification/);
      expect(io.stdout.match(/^read \d+\/\d+ bytes/gm)).toHaveLength(2);
      expect(code).toBe(0);
      expect(await sha(path)).toBe(before);
      // A second run starts from the image again: the overlay is gone.
      const again = await serve([...formatArgs, '--snapshot', ...listenArgs('unix', dir, 'snap2.sock'), path]);
      const read = await run('qemu-io', ['-f', 'raw', '-c', 'read -P 0x5a 0 512', again.uri]);
      await again.stop();
      expect(read.stdout).toContain('Pattern verification failed');
    });
  }
});
