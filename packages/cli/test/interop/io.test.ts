import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeInterop, makeScratchDir, peerPaths, removeScratchDir, run, vdisk } from './peers.js';

/**
 * `vdisk io` against qemu-io 7.2 on raw images: the same script on two copies of one image
 * gives the same exit code, the same lines (only the timing line is masked) and the same
 * bytes in the image afterwards.
 */
describeInterop('vdisk io equals qemu-io on raw images', () => {
  let scratch: string | undefined;
  const path = (name: string) => join(scratch as string, name);
  const MiB = 1024 * 1024;

  beforeAll(async () => {
    scratch = await makeScratchDir();
    const base = new Uint8Array(4 * MiB);
    for (let i = 0; i < 64 * 1024; i++) base[MiB + i] = (i * 37 + 11) & 0xff;
    base.set(new TextEncoder().encode('Hello, vdisk! 0123456789 abcdefghijklmnopqrstuvwxyz'), 3 * MiB + 100);
    await writeFile(path('base.raw'), base);
    // A Bochs header to write into the first sector of a guessed raw image.
    const header = new Uint8Array(512);
    header.set(new TextEncoder().encode('Bochs Virtual HD Image\0'), 0);
    header.set(new TextEncoder().encode('Redolog\0'), 32);
    header.set(new TextEncoder().encode('Growing\0'), 48);
    new DataView(header.buffer).setUint32(64, 0x00020000, true);
    new DataView(header.buffer).setUint32(68, 512, true);
    await writeFile(path('bochs-header'), header);
  });
  afterAll(() => removeScratchDir(scratch));

  /** The timing line (`4 KiB, 1 ops; 00.00 sec (...)`) is the one line that differs between runs. */
  const mask = (text: string) =>
    text.replace(/^[0-9.]+ (?:bytes|KiB|MiB|GiB|TiB|PiB|EiB), 1 ops; [^\n]*$/gm, '<timing>');

  async function both(name: string, args: string[], commands: string[]) {
    await copyFile(path('base.raw'), path(`${name}.qemu.raw`));
    await copyFile(path('base.raw'), path(`${name}.vdisk.raw`));
    const script = commands.flatMap((command) => ['-c', command]);
    const qemu = await run(peerPaths['qemu-io'] as string, [...args, ...script, path(`${name}.qemu.raw`)]);
    const ours = await vdisk('io', ...args, ...script, path(`${name}.vdisk.raw`));
    const theirBytes = await readFile(path(`${name}.qemu.raw`));
    const ourBytes = await readFile(path(`${name}.vdisk.raw`));
    return {
      qemu: { ...qemu, stdout: mask(qemu.stdout), stderr: qemu.stderr.replaceAll(`${name}.qemu.raw`, 'IMAGE') },
      ours: { ...ours, stdout: mask(ours.stdout), stderr: ours.stderr.replaceAll(`${name}.vdisk.raw`, 'IMAGE') },
      sameBytes: Buffer.compare(theirBytes, ourBytes) === 0,
    };
  }

  const scripts: [string, string[], string[]][] = [
    [
      'patterns',
      ['-f', 'raw'],
      [
        'write -P 0xab 0 4k',
        'read -v 0 16',
        'read -P 0xab 0 4k',
        'read -P 0xac 0 4k',
        'write 4k 4k',
        'read -v 4090 20',
        'read -v 1M 100',
        'read -v 3145828 60',
        'write -P 0x41 8k 20',
        'read -v 8k 24',
        'read -P 0xab -s 100 -l 200 0 1k',
        'read -P 0xcd -s 4096 0 8k',
      ],
    ],
    [
      'unaligned',
      ['-f', 'raw'],
      [
        'write -P 1 3 5',
        'write -P 2 1000 3000',
        'write -P 3 511 2',
        'w -P 4 1k 0.5k',
        'read -v 0 16',
        'read -v 990 40',
        'read -v 0x1ff 4',
        'r -P 4 1024 512',
        'write -f -P 9 2M 1M',
        'read -P 9 2M 1M',
      ],
    ],
    [
      'zero-discard',
      ['-f', 'raw'],
      [
        'write -z 1M 4k',
        'read -v 1048570 12',
        'discard 1M 64k',
        'read -P 0 1M 64k',
        'write -z -u 3M 4k',
        'flush',
        'map',
        'info',
        'length',
      ],
    ],
    [
      'errors',
      ['-f', 'raw'],
      [
        'read 0 5M',
        'write 4M 512',
        'write 4194303 1',
        'read 4M 0',
        'read 4194305 0',
        'bogus',
        'read',
        'read abc 4',
        'write -P 0x100 0 4',
        'write -P zz 0 4',
        'write -u 0 4',
        'write -z -P 1 0 4',
        'read 0 2147483137',
        'write 0 3G',
        'discard 0 3G',
        'read 16E 1',
        'read 7.99999E 0',
        'read -P 0 -s 3 -l 2 0 4',
        'flush 1',
        'map x',
        'read 0 4',
      ],
    ],
    ['read-only', ['-r', '-f', 'raw'], ['read -v 3145828 16', 'flush', 'map', 'read 0 9M']],
    [
      'guessed-raw',
      [],
      [
        'write -P 0x41 0 512',
        `write -s ${'BOCHS_HEADER'} 0 512`,
        'read -v 0 32',
        'write -P 0 0 1',
        'write -P 7 512 512',
        'read -v 510 4',
      ],
    ],
  ];

  /** What each script must show in qemu-io's own output, so that it cannot pass without exercising it. */
  const exercises: Record<string, string[]> = {
    patterns: ['Pattern verification failed at offset 0, 4096 bytes', '00000ffa:  ab ab ab ab ab ab cd cd'],
    unaligned: ['000003ee:  02 02 02 02'],
    'zero-discard': ['discard 65536/65536 bytes at offset 1048576', 'format name: raw'],
    errors: ['read failed: Input/output error', 'Parsing error: argument too large -- 16E'],
    'read-only': ['read 16/16 bytes at offset 3145828'],
    'guessed-raw': ['write failed: Operation not permitted', 'wrote 512/512 bytes at offset 512'],
  };

  for (const [name, args, commands] of scripts) {
    it(`${name}: same exit code, lines and image bytes`, async () => {
      const resolved = commands.map((command) => command.replace('BOCHS_HEADER', path('bochs-header')));
      const { qemu, ours, sameBytes } = await both(name, args, resolved);
      for (const line of exercises[name] ?? []) expect(qemu.stdout).toContain(line);
      expect(ours.code).toBe(qemu.code);
      expect(ours.stdout).toBe(qemu.stdout);
      expect(ours.stderr).toBe(qemu.stderr);
      expect(sameBytes).toBe(true);
    });
  }

  it("a write under -r fails on stderr with qemu-io's words (vdisk names the image), exit 1, nothing written", async () => {
    const { qemu, ours, sameBytes } = await both('write-read-only', ['-r', '-f', 'raw'], ['write 0 4', 'read 0 4']);
    expect(ours.code).toBe(qemu.code);
    expect(ours.stdout).toBe(qemu.stdout);
    expect(qemu.stderr).toBe('qemu-io: Block node is read-only\n');
    expect(ours.stderr).toBe(`vdisk: ${path('IMAGE')}: Block node is read-only\n`);
    expect(sameBytes).toBe(true);
  });
});
