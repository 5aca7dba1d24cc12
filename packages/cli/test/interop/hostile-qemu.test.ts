import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HOSTILE_IMAGES } from '@vdisk/format-bochs/testing';
import { afterAll, expect, it } from 'vitest';
import { describeInterop } from './peers.js';

// Keeps the hostile corpus's record of qemu-img 7.2 true: runs qemu-img and qemu-io on
// every image and checks that they still do what the table says.

const dir = mkdtempSync(join(tmpdir(), 'vdisk-hostile-qemu-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (tool: string, args: string[]) => {
  const result = spawnSync(tool, args, { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr.trim() };
};

describeInterop('qemu-img 7.2 on the hostile corpus', () => {
  for (const c of HOSTILE_IMAGES) {
    it(`${c.name}: ${c.what}`, () => {
      const file = join(dir, `${c.name}.img`);
      writeFileSync(file, c.bytes());
      const couldNotOpen = `qemu-img: Could not open '${file}': `;

      const probed = run('qemu-img', ['info', '--output=json', file]);
      if (probed.status === 0) {
        expect(JSON.parse(probed.stdout).format).toBe(c.qemu.probe);
      } else {
        // Probing chose bochs, whose open then failed (raw opens anything).
        expect(c.qemu.probe).toBe('bochs');
        expect(probed.stderr).toBe(`${couldNotOpen}${c.qemu.open}`);
      }

      const info = run('qemu-img', ['info', '--output=json', '-f', 'bochs', file]);
      const read = run('qemu-io', ['-r', '-f', 'bochs', '-c', 'read 0 512', file]);
      if (typeof c.qemu.open === 'string') {
        expect(info.stderr).toBe(`${couldNotOpen}${c.qemu.open}`);
        expect(read.stderr).toBe(`qemu-io: can't open device ${file}: ${c.qemu.open}`);
        const converted = run('qemu-img', ['convert', '-f', 'bochs', '-O', 'raw', file, `${file}.raw`]);
        expect(converted.stderr).toBe(`${couldNotOpen}${c.qemu.open}`);
        return;
      }
      expect(info.status).toBe(0);
      expect(JSON.parse(info.stdout)['virtual-size']).toBe(c.qemu.open);
      // qemu-io prints a failed read on stdout and still exits 0 in some versions: read both.
      const readResult = /read 512\/512 bytes at offset 0/.test(read.stdout)
        ? 'ok'
        : /read failed: (.*)/.exec(`${read.stdout}\n${read.stderr}`)?.[1]?.trim();
      expect(readResult).toBe(c.qemu.read);

      if (c.qemu.convert !== undefined) {
        const out = `${file}.raw`;
        const converted = run('qemu-img', ['convert', '-f', 'bochs', '-O', 'raw', file, out]);
        const result =
          converted.status === 0
            ? createHash('sha256').update(readFileSync(out)).digest('hex')
            : converted.stderr.replace(/^qemu-img: /, '');
        expect(result).toBe(c.qemu.convert);
        rmSync(out, { force: true });
      }
    });
  }
});
