/**
 * The command at its edges, where Unix tools are expected to behave: standard output
 * closed early or full, Ctrl-C and SIGTERM while nothing does I/O, file names that are not
 * UTF-8, a low descriptor limit, odd arguments.
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBochsImage } from '@vdisk/format-bochs/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, runVdisk, VDISK } from './vdisk-process.js';

const LYING = new URL('./fixtures/lying-plugin.mjs', import.meta.url).pathname;
const HELLO = new URL('../../../examples/hello.bochs', import.meta.url).pathname;

let dir: string;
let lie: string;
beforeAll(async () => {
  assertBuilt();
  dir = await mkdtemp(join(tmpdir(), 'vdisk-edges-'));
  lie = join(dir, 'claims-512TiB.lie');
  const header = new Uint8Array(512);
  header.set(new TextEncoder().encode('LIE1'));
  await writeFile(lie, header);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** 200 copies of hello.bochs in many/, made once. */
let many: Promise<void> | undefined;
function manyImages(): Promise<void> {
  many ??= (async () => {
    await mkdir(join(dir, 'many'));
    for (let i = 0; i < 200; i++) await copyFile(HELLO, join(dir, 'many', `${i}.img`));
  })();
  return many;
}

interface ShellResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a bash script with $VDISK set to the built CLI (`node .../vdisk.cjs`). */
function shell(script: string): Promise<ShellResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], {
      cwd: dir,
      env: { ...process.env, VDISK: `${process.execPath} ${VDISK}`, LYING },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
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

describe('standard output closed early or failing', () => {
  it('`vdisk map IMG | head -1` ends quietly, by SIGPIPE as qemu-img does', async () => {
    // The map never ends (512 TiB of alternating runs): only the closed pipe stops it.
    const run = await shell(
      '$VDISK --plugin "$LYING" map --output=json claims-512TiB.lie 2>err | head -1; echo "status $PIPESTATUS"; cat err',
    );
    expect(run.stdout).toBe(
      '[{ "start": 0, "length": 512, "depth": 0, "present": true, "zero": false, "data": true, "offset": 512},\nstatus 141\n',
    );
    expect(run.stderr).toBe('');
  });

  it('`vdisk probe *.img | head -0` ends quietly', async () => {
    await manyImages();
    const run = await shell('$VDISK probe many/*.img 2>err | head -0; echo "status $PIPESTATUS"; cat err');
    expect(run.stdout).toBe('status 141\n');
  });

  it('a full device gets one vdisk: line and exit 1', async () => {
    const run = await shell(`$VDISK info ${HELLO} > /dev/full; echo "status $?"`);
    expect(run).toMatchObject({ stdout: 'status 1\n', stderr: 'vdisk: write error: No space left on device\n' });
  });
});

/**
 * Starts `vdisk ARGS`, sends `signal` once it has run for `after` ms (or printed its first
 * line), and resolves with how it ended and how long after the signal.
 */
function interrupt(args: string[], signal: NodeJS.Signals, after = 800): Promise<ShellResult & { ms: number }> {
  return new Promise((resolve, reject) => {
    // --debug: a command that the grace period had to end says so on stderr.
    const child = spawn(process.execPath, [VDISK, '--debug', '--plugin', LYING, ...args], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let sentAt = 0;
    const send = () => {
      if (sentAt) return;
      sentAt = performance.now();
      child.kill(signal);
    };
    const timer = setTimeout(send, after);
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      if (stdout.length < 4096) stdout += text;
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
    });
    child.on('error', reject);
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ code, signal: sig, stdout, stderr, ms: performance.now() - sentAt });
    });
  });
}

describe('Ctrl-C and SIGTERM end commands promptly, also when no I/O happens', () => {
  // Nothing on stderr (with --debug): the abort ended the command, not the grace period's kill.
  it.each([
    ['SIGINT', ['compare', 'claims-512TiB.lie', 'claims-512TiB.lie']],
    ['SIGTERM', ['compare', 'claims-512TiB.lie', 'claims-512TiB.lie']],
    ['SIGINT', ['compare', '-s', 'claims-512TiB.lie', 'claims-512TiB.lie']],
    ['SIGINT', ['map', '--output=json', 'claims-512TiB.lie']],
    ['SIGTERM', ['check', 'claims-512TiB.lie']],
    ['SIGINT', ['check', 'claims-512TiB.lie']],
  ] as const)('%s ends vdisk %s by that signal, quietly', async (signal, args) => {
    const run = await interrupt([...args], signal);
    expect(run.signal).toBe(signal);
    expect(run.stderr).toBe('');
    expect(run.ms).toBeLessThan(5000);
  });

  it('ends an open that does not yield to the signal within the grace period', { timeout: 15_000 }, async () => {
    const run = await interrupt(['info', '-o', 'open-delay=60000', 'claims-512TiB.lie'], 'SIGINT');
    expect(run.signal).toBe('SIGINT');
    expect(run.stderr).toBe('vdisk: the command did not end within 2000 ms of SIGINT\n');
    expect(run.ms).toBeLessThan(5000);
  });
});

describe('file names', () => {
  it('opens a file whose name is not UTF-8, and names it byte for byte in errors', async () => {
    await copyFile(HELLO, Buffer.from(`${dir}/n\xff.img`, 'latin1'));
    const info = await shell(`$VDISK info --output=json $'n\\xff.img' | grep -c '"format": "bochs"'`);
    expect(info.stdout).toBe('1\n');
    expect(info.stderr).toBe('');
    // The name comes out as the bytes it is, as qemu-img prints it.
    const hex = (text: string) => Buffer.from(text, 'latin1').toString('hex');
    const probe = await shell(`$VDISK probe $'n\\xff.img' | od -An -tx1 | tr -d ' \\n'`);
    expect(probe.stdout).toBe(hex('n\xff.img: bochs (score 100)\n'));
    const missing = await shell(`$VDISK info $'n\\xfe.img' 2>&1 >/dev/null | od -An -tx1 | tr -d ' \\n'`);
    expect(missing.stdout).toBe(hex('vdisk: n\xfe.img: No such file or directory\n'));
  });

  it('writes to a destination whose name is not UTF-8: convert, create, through a symlink too', async () => {
    const run = await shell(
      `$VDISK convert -O raw ${HELLO} $'out\\xff.raw' && $VDISK create -f raw $'new\\xfe.raw' 1M >/dev/null && ln -s $'out\\xff.raw' $'link\\xfd' && $VDISK convert -O raw ${HELLO} $'link\\xfd' && ls -a | grep -c -a -e 'out' -e 'new' -e 'link' -e 'vdisk-tmp'`,
    );
    expect(run).toMatchObject({ code: 0, stderr: '' });
    // out\xff.raw, new\xfe.raw, link\xfd and no temporary file left over.
    expect(run.stdout).toBe('3\n');
  });

  it('an empty file name is a clear error', async () => {
    expect(await runVdisk(['info', ''], { cwd: dir })).toMatchObject({
      code: 1,
      stdout: '',
      stderr: "vdisk: Could not open '': The 'file' block driver requires a file name\n",
    });
    expect(await runVdisk(['convert', '-O', 'raw', HELLO, ''], { cwd: dir })).toMatchObject({
      code: 1,
      stderr: "vdisk: Could not open '': The 'file' block driver requires a file name\n",
    });
  });

  it("probe's window of files in flight survives a low descriptor limit", async () => {
    await manyImages();
    const run = await shell(
      'ulimit -n 24; $VDISK probe many/*.img | grep -c "bochs (score 100)"; echo "status $PIPESTATUS"',
    );
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('200\nstatus 0\n');
  });
});

describe('options', () => {
  it('-o takes sizes with suffixes where QEMU does', async () => {
    const file = join(dir, 'two-mib.raw');
    await writeFile(file, new Uint8Array(2 * 1024 * 1024));
    const run = await runVdisk(['info', '-f', 'raw', '-o', 'offset=1M,size=512k', '--output=json', file]);
    expect(JSON.parse(run.stdout)['format-specific']).toEqual({ type: 'raw', data: { offset: 1048576, size: 524288 } });
  });

  it('-o __proto__=1 is an unknown option like any other', async () => {
    const run = await runVdisk(['info', '-f', 'raw', '-o', '__proto__=1', HELLO]);
    expect(run).toMatchObject({
      code: 1,
      stderr: `vdisk: ${HELLO}: Block format 'raw' does not support the option '__proto__'\n`,
    });
  });
});

describe('compare -s compares allocation too', () => {
  it('names the first offset where the maps differ in (present, zero, data)', async () => {
    // The same bytes: data at sector 4 in one image; the other also has sector 2 written with zeros.
    const data = new Uint8Array(512).fill(7);
    const a = join(dir, 'a.bochs');
    const b = join(dir, 'b.bochs');
    await writeFile(a, buildBochsImage({ diskSize: 1032192, writes: [{ offset: 2048, data }] }));
    await writeFile(
      b,
      buildBochsImage({
        diskSize: 1032192,
        writes: [
          { offset: 1024, data: new Uint8Array(512) },
          { offset: 2048, data },
        ],
      }),
    );
    expect(await runVdisk(['compare', a, b])).toMatchObject({ code: 0, stdout: 'Images are identical.\n' });
    expect(await runVdisk(['compare', '-s', a, b])).toMatchObject({
      code: 1,
      stdout: 'Strict mode: Offset 1024 block status mismatch!\n',
      stderr: '',
    });
    expect(await runVdisk(['compare', '-s', a, a])).toMatchObject({ code: 0, stdout: 'Images are identical.\n' });
  });

  it('reports a content difference that comes before the first allocation difference', async () => {
    const a = join(dir, 'c.bochs');
    const b = join(dir, 'd.bochs');
    await writeFile(
      a,
      buildBochsImage({ diskSize: 1032192, writes: [{ offset: 0, data: new Uint8Array(512).fill(1) }] }),
    );
    await writeFile(
      b,
      buildBochsImage({
        diskSize: 1032192,
        writes: [
          { offset: 0, data: new Uint8Array(512).fill(2) },
          { offset: 8192, data: new Uint8Array(512).fill(3) },
        ],
      }),
    );
    expect(await runVdisk(['compare', '-s', a, b])).toMatchObject({
      code: 1,
      stdout: 'Content mismatch at offset 0!\n',
    });
  });
});
