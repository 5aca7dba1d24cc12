import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutOfRangeError } from '@vdisk/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IoContext } from './io-commands.js';
import type { IoDevice } from './io-device.js';
import { runIoScript } from './io-session.js';

/**
 * A disk in memory with the block layer's range rule: a plain model of what the commands
 * ask of core, so that these tests are about the language and its lines.
 */
function memoryDevice(size: number, writable = true): IoDevice & { bytes: Uint8Array; flushes: number } {
  const bytes = new Uint8Array(size);
  const check = (offset: number, length: number) => {
    if (offset + length > size) throw new OutOfRangeError(`beyond the end (${offset}+${length})`);
  };
  return {
    bytes,
    flushes: 0,
    format: 'raw',
    virtualSize: size,
    requestAlignment: 1,
    writable,
    async readInto(buffer, offset) {
      check(offset, buffer.length);
      buffer.set(bytes.subarray(offset, offset + buffer.length));
    },
    async write(offset, data) {
      check(offset, data.length);
      bytes.set(data, offset);
    },
    async writeZeroes(offset, length) {
      check(offset, length);
      bytes.fill(0, offset, offset + length);
    },
    async discard(offset, length) {
      check(offset, length);
      bytes.fill(0, offset, offset + length);
    },
    async flush() {
      this.flushes++;
    },
    async blockStatus(offset, length) {
      return [{ offset, length, data: true }];
    },
    info: () => undefined,
  };
}

/** Runs the lines and returns what qemu-io would print; every operation takes 1 ms on this clock. */
async function run(device: IoDevice, lines: string[], quiet = false) {
  let stdout = '';
  let stderr = '';
  let clock = 0n;
  const context: IoContext = {
    device,
    quiet,
    filename: 'disk.img',
    stdout: async (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    now: () => {
      clock += 1_000_000n;
      return clock;
    },
  };
  const { failed } = await runIoScript(context, lines);
  return { failed, stdout, stderr };
}

const timing = (size: string, rate: string) => `${size}, 1 ops; 00.00 sec (${rate}/sec and 1000.0000 ops/sec)\n`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vdisk-io-session-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("qemu-io's command language", () => {
  it('writes patterns and dumps them as qemu-io 7.2 does', async () => {
    const device = memoryDevice(1024 * 1024);
    const result = await run(device, [
      'write -P 0xab 0 4k',
      'read -v 0 16',
      'write 4k 4k',
      'read -v 4090 20',
      'write -P 0x41 8k 20',
      'read -v 8k 24',
    ]);
    expect(result).toEqual({
      failed: false,
      stderr: '',
      stdout:
        'wrote 4096/4096 bytes at offset 0\n' +
        timing('4 KiB', '3.906 MiB') +
        '00000000:  ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab  ................\n' +
        'read 16/16 bytes at offset 0\n' +
        timing('16 bytes', '15.625 KiB') +
        'wrote 4096/4096 bytes at offset 4096\n' +
        timing('4 KiB', '3.906 MiB') +
        '00000ffa:  ab ab ab ab ab ab cd cd cd cd cd cd cd cd cd cd  ................\n' +
        '0000100a:  cd cd cd cd  ....\n' +
        'read 20/20 bytes at offset 4090\n' +
        timing('20 bytes', '19.531 KiB') +
        'wrote 20/20 bytes at offset 8192\n' +
        timing('20 bytes', '19.531 KiB') +
        '00002000:  41 41 41 41 41 41 41 41 41 41 41 41 41 41 41 41  AAAAAAAAAAAAAAAA\n' +
        '00002010:  41 41 41 41 00 00 00 00  AAAA....\n' +
        'read 24/24 bytes at offset 8192\n' +
        timing('24 bytes', '23.438 KiB'),
    });
    expect(device.bytes[4095]).toBe(0xab);
    expect(device.bytes[4096]).toBe(0xcd); // write without -P writes 0xcd
  });

  it('checks patterns: a mismatch fails the command but still reports the read', async () => {
    const device = memoryDevice(1024 * 1024);
    device.bytes.fill(0xab, 0, 4096);
    const result = await run(device, [
      'read -P 0xab 0 4k',
      'read -P 0xac 0 4k',
      'read -P 0 -s 4096 -l 0 0 4k',
      'read -P 0xab -s 4000 -l 200 0 8k',
      'read -P 0 -s 3 -l 2 0 4',
      'read -P 0 -l 5 0 4',
    ]);
    expect(result.failed).toBe(true);
    expect(result.stdout).toBe(
      'read 4096/4096 bytes at offset 0\n' +
        timing('4 KiB', '3.906 MiB') +
        'Pattern verification failed at offset 0, 4096 bytes\n' +
        'read 4096/4096 bytes at offset 0\n' +
        timing('4 KiB', '3.906 MiB') +
        'read 4096/4096 bytes at offset 0\n' +
        timing('4 KiB', '3.906 MiB') +
        'Pattern verification failed at offset 4000, 200 bytes\n' +
        'read 8192/8192 bytes at offset 0\n' +
        timing('8 KiB', '7.812 MiB') +
        'pattern verification range exceeds end of read data\n' +
        'pattern verification range exceeds end of read data\n',
    );
  });

  it("reports errors in qemu-io's words and streams, and runs the commands after them", async () => {
    const device = memoryDevice(1024 * 1024);
    const result = await run(device, [
      'read 0 2M',
      'write 1M 512',
      'bogus',
      'read',
      'read -P 0xab',
      'read abc 4',
      'read 0 4 5',
      'read -x 0 4',
      'read 0 4 -P',
      'read -1 4',
      'write -P 0x100 0 4',
      'write -P zz 0 4',
      'write -u 0 4',
      'write -z -P 1 0 4',
      'read 0 2147483137',
      'write 0 3G',
      'discard 0 3G',
      'read 16E 1',
      'read 7.99999E 0',
      'flush 1',
      'write 1048575 1',
    ]);
    expect(result.failed).toBe(true);
    const usage =
      'read [-Cqv] [-P pattern [-s off] [-l len]] off len -- reads a number of bytes at a specified offset\n';
    expect(result.stdout).toBe(
      'read failed: Input/output error\n' +
        'write failed: Input/output error\n' +
        usage +
        'Parsing error: non-numeric argument, or extraneous/unrecognized suffix -- abc\n' +
        usage +
        usage +
        usage +
        usage +
        '0x100 is not a valid pattern byte\n' +
        'zz is not a valid pattern byte\n' +
        '-u requires -z to be specified\n' +
        'Only one of -z, -P, and -s can be specified at the same time\n' +
        'length cannot exceed 2147483136, given 2147483137\n' +
        'length cannot exceed 2147483136 without -n, given 3G\n' +
        'length cannot exceed 2147483136, given 3G\n' +
        'Parsing error: argument too large -- 16E\n' +
        'read failed: Input/output error\n' +
        'wrote 1/1 bytes at offset 1048575\n' +
        timing('1 bytes', '1000 bytes'),
    );
    expect(result.stderr).toBe(
      'command "bogus" not found\n' +
        'bad argument count 0 to read, expected at least 2 arguments\n' +
        "read: invalid option -- 'x'\n" +
        "read: option requires an argument -- 'P'\n" +
        "read: invalid option -- '1'\n" +
        'bad argument count 1 to flush, expected 0 arguments\n',
    );
  });

  it('succeeds when every command does', async () => {
    const device = memoryDevice(4096);
    const result = await run(device, [
      '',
      '   ',
      'r 0 4',
      'w -q 0 4',
      'read  0   4',
      'read 0 4 -v',
      'read -- 0 4',
      'f',
    ]);
    expect(result.failed).toBe(false);
    expect(device.flushes).toBe(1);
    expect(result.stdout).toBe(
      `read 4/4 bytes at offset 0\n${timing('4 bytes', '3.906 KiB')}`.repeat(2) +
        '00000000:  cd cd cd cd  ....\n' +
        `read 4/4 bytes at offset 0\n${timing('4 bytes', '3.906 KiB')}`.repeat(2),
    );
  });

  it('reads zero bytes at the end, and fails one byte past it', async () => {
    const result = await run(memoryDevice(1024 * 1024), ['read 1M 0', 'read 1048577 0']);
    expect(result.stdout).toBe(
      `read 0/0 bytes at offset 1048576\n0 bytes, 1 ops; 00.00 sec (0 bytes/sec and 1000.0000 ops/sec)\nread failed: Input/output error\n`,
    );
  });

  it('write -z and discard zero the range; discard reports like qemu-io', async () => {
    const device = memoryDevice(65536);
    device.bytes.fill(7);
    const result = await run(device, ['write -z 0 4k', 'discard 8k 4k', 'd -q 16k 1']);
    expect(result.failed).toBe(false);
    expect(result.stdout).toBe(
      `wrote 4096/4096 bytes at offset 0\n${timing('4 KiB', '3.906 MiB')}discard 4096/4096 bytes at offset 8192\n${timing('4 KiB', '3.906 MiB')}`,
    );
    expect(device.bytes.subarray(0, 4096).every((b) => b === 0)).toBe(true);
    expect(device.bytes[4096]).toBe(7);
    expect(device.bytes.subarray(8192, 12288).every((b) => b === 0)).toBe(true);
    expect(device.bytes[16384]).toBe(0);
    expect(device.bytes[16385]).toBe(7);
  });

  it('write -s fills from a file, repeating it when it is shorter', async () => {
    const three = join(dir, 'three');
    await writeFile(three, 'abc');
    const empty = join(dir, 'empty');
    await writeFile(empty, '');
    const device = memoryDevice(4096);
    const result = await run(device, [
      `write -s ${three} 0 8`,
      `write -s ${join(dir, 'missing')} 0 4`,
      `write -s ${empty} 0 4`,
      `write -s ${dir} 0 4`,
      `write -s ${three} -P 1 0 3`,
    ]);
    expect(Buffer.from(device.bytes.subarray(0, 8)).toString()).toBe('abcabcab');
    expect(result.stdout).toBe(
      `wrote 8/8 bytes at offset 0\n${timing('8 bytes', '7.812 KiB')}Only one of -z, -P, and -s can be specified at the same time\n`,
    );
    expect(result.stderr).toBe(
      `${join(dir, 'missing')}: No such file or directory\n${empty}: file is empty\n${dir}: Is a directory\n`,
    );
  });

  it('-C prints one parsable line; -q and vdisk io -q print none', async () => {
    const device = memoryDevice(4096);
    expect((await run(device, ['read -C 0 4', 'write -C 0 4'])).stdout).toBe(
      '4,1,0:00:00.00,4000.000,1000.000\n4,1,0:00:00.00,4000.000,1000.000\n',
    );
    const quiet = await run(device, ['write 0 4', 'read -v 0 4', 'read -P 1 0 4', 'discard 0 4'], true);
    expect(quiet).toEqual({ failed: true, stderr: '', stdout: 'Pattern verification failed at offset 0, 4 bytes\n' });
  });

  it('refuses writes on a read-only image before parsing them, on stderr', async () => {
    const device = memoryDevice(4096, false);
    const result = await run(device, ['write 0 4', 'write -x 0 4', 'discard 0 4', 'read 0 4', 'flush']);
    expect(result.failed).toBe(true);
    expect(result.stderr).toBe('vdisk: disk.img: Block node is read-only\n'.repeat(3));
    expect(result.stdout).toBe(`read 4/4 bytes at offset 0\n${timing('4 bytes', '3.906 KiB')}`);
  });

  it('map merges runs by allocation; info and length describe the image', async () => {
    const device = memoryDevice(10 * 1024 * 1024);
    device.blockStatus = async (offset, length) =>
      [
        { offset: 0, length: 16384, data: true },
        { offset: 16384, length: 16384, data: false, allocated: true },
        { offset: 32768, length: 1024 * 1024, data: false },
        { offset: 32768 + 1024 * 1024, length: 10 * 1024 * 1024 - 32768 - 1024 * 1024, data: true },
      ].filter((run) => run.offset >= offset && run.offset < offset + length);
    const result = await run(device, ['map', 'info', 'length', 'quit', 'read 0 1']);
    expect(result).toEqual({
      failed: false,
      stderr: '',
      stdout:
        '32 KiB (0x8000) bytes     allocated at offset 0 bytes (0x0)\n' +
        '1 MiB (0x100000) bytes not allocated at offset 32 KiB (0x8000)\n' +
        '8.969 MiB (0x8f8000) bytes     allocated at offset 1.031 MiB (0x108000)\n' +
        'format name: raw\ncluster size: 0 bytes\nvm state offset: 0 bytes\n' +
        '10 MiB\n',
    });
  });

  it('help lists the commands as qemu-io does', async () => {
    const result = await run(memoryDevice(512), ['help map', 'help flush', 'help bogus']);
    expect(result.stdout).toBe(
      'map  -- prints the allocated areas of a file\nflush -- flush all in-core file state to disk\ncommand bogus not found\n',
    );
    expect(result.failed).toBe(true);
  });
});
