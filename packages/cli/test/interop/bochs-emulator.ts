/**
 * Bochs 2.7 itself, headless, as a peer: a 512-byte boot sector (assembled by nasm) on a
 * floppy reads sectors of the hard disk with INT 13h AH=42h and prints them in hex on port
 * 0xE9, or writes known sectors with AH=43h, then ends the run by writing `Shutdown` to
 * port 0x8900. So a test sees the disk exactly as a guest of Bochs sees it, through Bochs's
 * own image code (growing, undoable, volatile, sparse, vpc, vmware4, vbox, flat).
 *
 * - `describeEmulator(name, body)`: `describe`, skipped (or failed with
 *   VDISK_REQUIRE_INTEROP=1) when bochs or nasm is missing, as `describeInterop` does.
 * - `bochsReadSectors(disk, ranges)`: what the guest reads at each range of LBAs.
 * - `bochsWriteSectors(disk, ranges)`: the guest writes `guestSector(lba)` at each LBA.
 *
 * The bochsrc follows BOCHS-FAMILY.md §5: Debian's build has no `nogui`, so an rfb display
 * that waits for no client; the internal debugger stops at t=0 and gets `c` on stdin; sound
 * off, or the ALSA plugin aborts.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describeNeeding, findTools, runOrThrow } from './peers.js';

const EMULATOR_TOOLS = ['bochs', 'nasm'] as const;
const emulatorPaths = findTools(EMULATOR_TOOLS);
/** The emulator's tools that are not on the PATH. */
export const missingEmulatorTools = EMULATOR_TOOLS.filter((tool) => emulatorPaths[tool] === undefined);
const EMULATOR_HINT = 'install them with: apt-get install -y bochs bochsbios vgabios nasm';

export const BIOS = '/usr/share/bochs/BIOS-bochs-latest';
export const VGA_BIOS = '/usr/share/vgabios/vgabios.bin';

/** `describe`, run only when Bochs and nasm are installed (skip or fail otherwise, like `describeInterop`). */
export function describeEmulator(name: string, body: () => void): void {
  describeNeeding(missingEmulatorTools, EMULATOR_HINT, name, body);
}

/** Bochs's image modes (bochsrc `ata0-master: mode=`). */
export type BochsDiskMode = 'flat' | 'growing' | 'undoable' | 'volatile' | 'sparse' | 'vpc' | 'vmware4' | 'vbox';

export interface EmulatorDisk {
  path: string;
  mode: BochsDiskMode;
  /**
   * The disk's size in bytes: with a whole number of 16 * 63-sector cylinders, the geometry
   * is given as `cylinders=N, heads=16, spt=63`; otherwise (or without it) Bochs detects it.
   */
  size?: number;
  /** An undoable disk's redolog (bochsrc `journal=`). */
  journal?: string;
}

/** A run of sectors: `count` sectors from `lba`. */
export interface SectorRange {
  lba: number;
  count: number;
}

const CYLINDER = 16 * 63 * 512;
/** The boot sector holds the table of ranges after its code. */
export const MAX_RANGES = 24;

/** The 512 bytes the guest writes at `lba`: the LBA (uint32 LE), then byte j = (7 * lba + j) & 0xff. */
export function guestSector(lba: number): Uint8Array {
  const sector = new Uint8Array(512);
  for (let j = 0; j < 512; j++) sector[j] = (7 * lba + j) & 0xff;
  new DataView(sector.buffer).setUint32(0, lba >>> 0, true);
  return sector;
}

/** What the guest read at each range, in order: `count * 512` bytes each. */
export async function bochsReadSectors(disk: EmulatorDisk, ranges: readonly SectorRange[]): Promise<Uint8Array[]> {
  const stdout = await runGuest(disk, ranges, 'read');
  const lines = stdout.split('\n').filter((line) => /^[0-9a-f]{1024}$/.test(line));
  const total = ranges.reduce((sum, r) => sum + r.count, 0);
  if (lines.length !== total) {
    throw new Error(`Bochs printed ${lines.length} sectors, not ${total}:\n${stdout.slice(-2000)}`);
  }
  let next = 0;
  return ranges.map(({ count }) => {
    const bytes = new Uint8Array(512 * count);
    for (let i = 0; i < count; i++) bytes.set(Buffer.from(lines[next++] as string, 'hex'), 512 * i);
    return bytes;
  });
}

/** The guest writes `guestSector(lba)` at every LBA of the ranges, then Bochs closes the image. */
export async function bochsWriteSectors(disk: EmulatorDisk, ranges: readonly SectorRange[]): Promise<void> {
  await runGuest(disk, ranges, 'write');
}

/** The boot sector's source: the loop over the ranges, reading (and printing) or writing each sector. */
export function bootSectorSource(ranges: readonly SectorRange[], mode: 'read' | 'write'): string {
  if (ranges.length > MAX_RANGES) throw new Error(`At most ${MAX_RANGES} ranges fit in the boot sector`);
  const table = ranges.map(({ lba, count }) => `  dd ${lba}, ${count}`).join('\n');
  return `bits 16
org 0x7c00
%define ${mode === 'write' ? 'WRITE' : 'READ'}
  cli
  xor ax, ax
  mov ds, ax
  mov es, ax
  mov ss, ax
  mov sp, 0x7c00
  sti
  mov si, ranges
next_range:
  mov eax, [si]
  mov cx, [si + 4]
  test cx, cx
  jz done
  add si, 8
  mov [dap_lba], eax
next_sector:
  push cx
  push si
%ifdef WRITE
  mov di, 0x8000              ; byte j = (7 * lba + j) & 0xff, then the lba in bytes 0..3
  mov eax, [dap_lba]
  imul ax, ax, 7
  mov bx, 512
fill:
  stosb
  inc al
  dec bx
  jnz fill
  mov eax, [dap_lba]
  mov [0x8000], eax
  mov ax, 0x4300              ; extended write, no verify
%else
  mov ah, 0x42                ; extended read
%endif
  mov dl, 0x80
  mov si, dap
  int 0x13
  jc fail
%ifdef READ
  mov si, 0x8000
  mov cx, 512
hex:
  lodsb
  mov bl, al
  shr al, 4
  call nibble
  mov al, bl
  and al, 15
  call nibble
  loop hex
  mov al, 10
  out 0xe9, al
%endif
  inc dword [dap_lba]
  pop si
  pop cx
  dec cx
  jnz next_sector
  jmp next_range
nibble:
  add al, '0'
  cmp al, '9'
  jbe nibble_out
  add al, 'a' - '9' - 1
nibble_out:
  out 0xe9, al
  ret
fail:
  mov al, '!'
  out 0xe9, al
done:
  mov dx, 0x8900
  mov si, shutdown
say:
  lodsb
  test al, al
  jz halt
  out dx, al
  jmp say
halt:
  hlt
  jmp halt
shutdown: db 'Shutdown', 0
align 4
dap:
  db 16, 0
  dw 1
  dw 0x8000, 0
dap_lba: dd 0, 0
ranges:
${table}
  dd 0, 0
times 510 - ($ - $$) db 0
dw 0xaa55
`;
}

/** The bochsrc of one run (BOCHS-FAMILY.md §5). */
export function bochsrc(disk: EmulatorDisk, floppy: string, log: string): string {
  const geometry =
    disk.size !== undefined && disk.size > 0 && disk.size % CYLINDER === 0
      ? `, cylinders=${disk.size / CYLINDER}, heads=16, spt=63`
      : '';
  const journal = disk.journal ? `, journal="${resolve(disk.journal)}"` : '';
  return [
    'megs: 16',
    `romimage: file=${BIOS}`,
    `vgaromimage: file=${VGA_BIOS}`,
    'display_library: rfb, options="timeout=0"',
    `floppya: 1_44="${floppy}", status=inserted`,
    'boot: floppy',
    `ata0-master: type=disk, path="${resolve(disk.path)}", mode=${disk.mode}${geometry}${journal}`,
    `log: "${log}"`,
    'port_e9_hack: enabled=1',
    'sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy',
    'speaker: enabled=0',
    'plugin_ctrl: speaker=0, parallel=0, serial=0, gameport=0, unmapped=1, iodebug=1',
    '',
  ].join('\n');
}

/** Assembles the boot sector, runs Bochs on it until the guest's shutdown, returns Bochs's stdout. */
async function runGuest(disk: EmulatorDisk, ranges: readonly SectorRange[], mode: 'read' | 'write'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vdisk-bochs-'));
  try {
    const asm = join(dir, 'boot.asm');
    const bin = join(dir, 'boot.bin');
    await writeFile(asm, bootSectorSource(ranges, mode));
    await runOrThrow(emulatorPaths.nasm ?? 'nasm', ['-f', 'bin', '-o', bin, asm]);
    const floppy = join(dir, 'floppy.img');
    const image = Buffer.alloc(1474560); // a 1.44 MB floppy, the boot sector first
    image.set(await readFile(bin), 0);
    await writeFile(floppy, image);
    const rc = join(dir, 'bochsrc');
    const log = join(dir, 'bochs.log');
    await writeFile(rc, bochsrc(disk, floppy, log));
    const { code, stdout, stderr } = await runBochs(['-q', '-f', rc], dir);
    const ended = /Shutdown port: shutdown requested/.test(stdout + stderr);
    // The guest prints `!` at the start of a line when INT 13h fails.
    if (!ended || /^!/m.test(stdout)) {
      const logText = await readFile(log, 'utf8').catch(() => '');
      throw new Error(
        `Bochs did not run the guest to its end (exit ${code}${ended ? ', the guest saw an INT 13h error' : ''}):\n${stderr.slice(-1500)}\n${logText.slice(-3000)}`,
      );
    }
    return stdout;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Bochs with `c` for its debugger on stdin, then end of input; a run that hangs is killed
 * after 60 s. Standard input is a file opened read-only, not a pipe: Bochs writes to its
 * descriptor 0, and on the socket Node would give it that is a SIGPIPE once the input ends.
 */
async function runBochs(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const input = join(cwd, 'debugger-input');
  await writeFile(input, 'c\n');
  const stdin = await open(input, 'r');
  try {
    return await new Promise((resolvePromise, reject) => {
      const child = spawn(emulatorPaths.bochs ?? 'bochs', args, { cwd, stdio: [stdin.fd, 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout?.setEncoding('latin1').on('data', (chunk: string) => {
        stdout += chunk;
      });
      child.stderr?.setEncoding('latin1').on('data', (chunk: string) => {
        stderr += chunk;
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolvePromise({ code: code ?? -1, stdout, stderr: signal ? `${stderr}\nkilled by ${signal}` : stderr });
      });
    });
  } finally {
    await stdin.close();
  }
}
