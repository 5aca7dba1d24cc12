import { open } from 'node:fs/promises';
import { DEFAULT_MAP_WINDOW, isVdiskError, OutOfRangeError, strtosz } from '@vdisk/core';
import { fileSystemPath, toSystemError } from '@vdisk/core/node';
import { getopt } from './getopt.js';
import type { IoDevice } from './io-device.js';
import { dumpLines, reportLines, sizeString } from './report.js';

/** What a command runs against, and where its lines go. */
export interface IoContext {
  device: IoDevice;
  /** Standard output; awaited, so a long dump holds no more than the pipe's buffer. */
  stdout(text: string): Promise<void>;
  stderr(text: string): void;
  /** `vdisk io -q`: every command as if given qemu-io's `-q` (no report lines). */
  quiet: boolean;
  /** The image's name as the user typed it, for the error lines that name it. */
  filename: string;
  /** A monotonic clock in nanoseconds, for the timing line. */
  now(): bigint;
  /** Stops the script between two commands (Ctrl-C): the command running completes first. */
  signal?: AbortSignal;
}

/** One command of qemu-io's language, with its argument counts and usage line (qemu-io-cmds.c's cmdinfo_t). */
export interface IoCommand {
  name: string;
  altname?: string;
  /** Fewest and most words after the name; `argmax` -1 is unlimited. */
  argmin: number;
  argmax: number;
  /** The usage line's arguments; absent for a command that takes none (`map` has an empty one, as in qemu-io). */
  args?: string;
  oneline: string;
  /** Needs a writable image: under `-r`, it fails before parsing its arguments (qemu-io's perm check). */
  writes?: boolean;
  /** Runs the command; resolves to false when it failed (qemu-io's negative return). */
  run(context: IoContext, name: string, words: string[]): Promise<boolean>;
}

/** QEMU's BDRV_REQUEST_MAX_BYTES: INT_MAX rounded down to a sector, the most one request moves. */
export const REQUEST_MAX_BYTES = 2147483136;
const INT64_MAX = (1n << 63n) - 1n;

/** qemu-io's cvtnum and print_cvtnum_err: a size with suffixes, or the line saying why not. */
async function number(context: IoContext, word: string): Promise<bigint | undefined> {
  const parsed = strtosz(word);
  if (parsed.ok && parsed.value <= INT64_MAX) return parsed.value;
  const why =
    !parsed.ok && parsed.error === 'EINVAL'
      ? 'non-numeric argument, or extraneous/unrecognized suffix'
      : 'argument too large';
  await context.stdout(`Parsing error: ${why} -- ${word}\n`);
  return undefined;
}

/** qemu-io's parse_pattern: strtol base 0 (`0xab`, `0253`, `171`) of one byte. */
async function pattern(context: IoContext, word: string): Promise<number | undefined> {
  const match = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)$/.exec(word);
  if (match) {
    const digits = match[2] as string;
    const magnitude = /^0[xX]/.test(digits)
      ? Number.parseInt(digits.slice(2), 16)
      : digits.startsWith('0')
        ? Number.parseInt(digits, 8)
        : Number.parseInt(digits, 10);
    const value = match[1] === '-' ? -magnitude : magnitude;
    if (value >= 0 && value <= 255) return value;
  }
  await context.stdout(`${word} is not a valid pattern byte\n`);
  return undefined;
}

/** The message after `read failed: `: the operating system's words, as qemu-io prints strerror. */
export function failureMessage(error: unknown): string {
  // QEMU's block layer refuses a request past the end with EIO.
  if (isVdiskError(error) && error.code === 'ERANGE') return 'Input/output error';
  if (isVdiskError(error)) return error.message;
  throw error;
}

/** An offset beyond 2^53 cannot be inside any image: the range check QEMU fails with EIO. */
function exact(value: bigint): number | undefined {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
}

async function usage(context: IoContext, command: IoCommand): Promise<false> {
  await context.stdout(`${command.name} ${command.args} -- ${command.oneline}\n`);
  return false;
}

function elapsed(context: IoContext, started: bigint): number {
  return Number(context.now() - started) / 1e9;
}

const read: IoCommand = {
  name: 'read',
  altname: 'r',
  argmin: 2,
  argmax: -1,
  args: '[-Cqv] [-P pattern [-s off] [-l len]] off len',
  oneline: 'reads a number of bytes at a specified offset',
  async run(context, name, words) {
    const parsed = getopt(name, words, 'Cl:pP:qs:v');
    let parsable = false;
    let quiet = context.quiet;
    let verbose = false;
    let expected: number | undefined;
    let patternOffset: bigint | undefined;
    let patternCount: bigint | undefined;
    for (const { letter, value } of parsed.options) {
      if (letter === 'C') parsable = true;
      else if (letter === 'q') quiet = true;
      else if (letter === 'v') verbose = true;
      else if (letter === 'P') {
        expected = await pattern(context, value as string);
        if (expected === undefined) return false;
      } else if (letter === 's') {
        patternOffset = await number(context, value as string);
        if (patternOffset === undefined) return false;
      } else if (letter === 'l') {
        patternCount = await number(context, value as string);
        if (patternCount === undefined) return false;
      } // -p: ignored, as qemu-io ignores it for backwards compatibility
    }
    if (parsed.error) {
      context.stderr(`${parsed.error}\n`);
      return usage(context, read);
    }
    if (parsed.operands.length !== 2) return usage(context, read);
    const [offsetWord, countWord] = parsed.operands as [string, string];
    const offset = await number(context, offsetWord);
    if (offset === undefined) return false;
    const count = await number(context, countWord);
    if (count === undefined) return false;
    if (count > BigInt(REQUEST_MAX_BYTES)) {
      await context.stdout(`length cannot exceed ${REQUEST_MAX_BYTES}, given ${countWord}\n`);
      return false;
    }
    if (expected === undefined && (patternOffset !== undefined || patternCount !== undefined)) {
      return usage(context, read);
    }
    const checkOffset = patternOffset ?? 0n;
    const checkCount = patternCount ?? count - checkOffset;
    if (checkCount < 0n || checkCount + checkOffset > count) {
      await context.stdout('pattern verification range exceeds end of read data\n');
      return false;
    }

    const length = Number(count);
    const buffer = new Uint8Array(length);
    const started = context.now();
    try {
      const at = exact(offset);
      if (at === undefined) throw new OutOfRangeError(`Read at offset ${offset} is beyond the end of the image`);
      await context.device.readInto(buffer, at);
    } catch (error) {
      await context.stdout(`read failed: ${failureMessage(error)}\n`);
      return false;
    }
    const seconds = elapsed(context, started);

    let ok = true;
    if (expected !== undefined) {
      const from = Number(checkOffset);
      const checked = buffer.subarray(from, from + Number(checkCount));
      if (checked.some((byte) => byte !== expected)) {
        await context.stdout(`Pattern verification failed at offset ${offset + checkOffset}, ${checkCount} bytes\n`);
        ok = false;
      }
    }
    if (quiet) return ok;
    if (verbose) await context.stdout(dumpLines(buffer, offset));
    await context.stdout(reportLines('read', offset, length, seconds, parsable));
    return ok;
  },
};

/**
 * write -s FILE: the buffer filled with the file's first bytes, repeated when the file is
 * shorter (qemu_io_alloc_from_file). Its errors go to stderr as `FILE: MESSAGE`.
 */
async function bytesFromFile(context: IoContext, path: string, length: number): Promise<Uint8Array | undefined> {
  const buffer = new Uint8Array(length);
  let filled = 0;
  try {
    const handle = await open(fileSystemPath(path), 'r');
    try {
      while (filled < length) {
        const { bytesRead } = await handle.read(buffer, filled, length - filled, null);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
    } finally {
      await handle.close();
    }
  } catch (error) {
    context.stderr(`${path}: ${toSystemError(error).message}\n`);
    return undefined;
  }
  if (filled === 0 && length > 0) {
    context.stderr(`${path}: file is empty\n`);
    return undefined;
  }
  for (let at = filled; at < length; at += filled) buffer.copyWithin(at, 0, Math.min(filled, length - at));
  return buffer;
}

const write: IoCommand = {
  name: 'write',
  altname: 'w',
  argmin: 2,
  argmax: -1,
  args: '[-Cfquz] [-P pattern | -s source_file] off len',
  oneline: 'writes a number of bytes at a specified offset',
  writes: true,
  async run(context, name, words) {
    const parsed = getopt(name, words, 'CfpP:qs:uz');
    let parsable = false;
    let quiet = context.quiet;
    let fua = false;
    let mayUnmap = false;
    let zeroes = false;
    let fill: number | undefined;
    let sourceFile: string | undefined;
    for (const { letter, value } of parsed.options) {
      if (letter === 'C') parsable = true;
      else if (letter === 'q') quiet = true;
      else if (letter === 'f') fua = true;
      else if (letter === 'u') mayUnmap = true;
      else if (letter === 'z') zeroes = true;
      else if (letter === 's') sourceFile = value as string;
      else if (letter === 'P') {
        fill = await pattern(context, value as string);
        if (fill === undefined) return false;
      }
    }
    if (parsed.error) {
      context.stderr(`${parsed.error}\n`);
      return usage(context, write);
    }
    if (parsed.operands.length !== 2) return usage(context, write);
    if (mayUnmap && !zeroes) {
      await context.stdout('-u requires -z to be specified\n');
      return false;
    }
    if (Number(zeroes) + Number(fill !== undefined) + Number(sourceFile !== undefined) > 1) {
      await context.stdout('Only one of -z, -P, and -s can be specified at the same time\n');
      return false;
    }
    const [offsetWord, countWord] = parsed.operands as [string, string];
    const offset = await number(context, offsetWord);
    if (offset === undefined) return false;
    const count = await number(context, countWord);
    if (count === undefined) return false;
    if (count > BigInt(REQUEST_MAX_BYTES)) {
      // qemu-io 7.2's words; its -n (no fallback for -z) is not one of vdisk's options.
      await context.stdout(`length cannot exceed ${REQUEST_MAX_BYTES} without -n, given ${countWord}\n`);
      return false;
    }
    const length = Number(count);
    let bytes: Uint8Array | undefined;
    if (sourceFile !== undefined) {
      bytes = await bytesFromFile(context, sourceFile, length);
      if (!bytes) return false;
    } else if (!zeroes) {
      bytes = new Uint8Array(length).fill(fill ?? 0xcd); // qemu-io's default pattern
    }

    const started = context.now();
    try {
      const at = exact(offset);
      if (at === undefined) throw new OutOfRangeError(`Write at offset ${offset} is beyond the end of the image`);
      if (bytes) await context.device.write(at, bytes, { fua });
      else await context.device.writeZeroes(at, length, { mayUnmap });
    } catch (error) {
      await context.stdout(`write failed: ${failureMessage(error)}\n`);
      return false;
    }
    if (!quiet) await context.stdout(reportLines('wrote', offset, length, elapsed(context, started), parsable));
    return true;
  },
};

const discard: IoCommand = {
  name: 'discard',
  altname: 'd',
  argmin: 2,
  argmax: -1,
  args: '[-Cq] off len',
  oneline: 'discards a number of bytes at a specified offset',
  writes: true,
  async run(context, name, words) {
    const parsed = getopt(name, words, 'Cq');
    let parsable = false;
    let quiet = context.quiet;
    for (const { letter } of parsed.options) {
      if (letter === 'C') parsable = true;
      else if (letter === 'q') quiet = true;
    }
    if (parsed.error) {
      context.stderr(`${parsed.error}\n`);
      return usage(context, discard);
    }
    if (parsed.operands.length !== 2) return usage(context, discard);
    const [offsetWord, countWord] = parsed.operands as [string, string];
    const offset = await number(context, offsetWord);
    if (offset === undefined) return false;
    const count = await number(context, countWord);
    if (count === undefined) return false;
    if (count > BigInt(REQUEST_MAX_BYTES)) {
      await context.stdout(`length cannot exceed ${REQUEST_MAX_BYTES}, given ${countWord}\n`);
      return false;
    }
    const length = Number(count);
    const started = context.now();
    try {
      const at = exact(offset);
      if (at === undefined) throw new OutOfRangeError(`Discard at offset ${offset} is beyond the end of the image`);
      await context.device.discard(at, length);
    } catch (error) {
      await context.stdout(`discard failed: ${failureMessage(error)}\n`);
      return false;
    }
    if (!quiet) await context.stdout(reportLines('discard', offset, length, elapsed(context, started), parsable));
    return true;
  },
};

const flush: IoCommand = {
  name: 'flush',
  altname: 'f',
  argmin: 0,
  argmax: 0,
  oneline: 'flush all in-core file state to disk',
  async run(context) {
    // Nothing to flush on a read-only image (QEMU's flush of a read-only node succeeds).
    if (!context.device.writable) return true;
    try {
      await context.device.flush();
    } catch (error) {
      // qemu-io fails silently here; vdisk says why, in the words of the other commands.
      await context.stdout(`flush failed: ${failureMessage(error)}\n`);
      return false;
    }
    return true;
  },
};

/**
 * qemu-io's map: the disk as runs of "allocated in this image or not" (bdrv_is_allocated),
 * adjacent runs of the same kind merged: `1 MiB (0x100000) bytes     allocated at offset 0 bytes (0x0)`.
 */
const map: IoCommand = {
  name: 'map',
  argmin: 0,
  argmax: 0,
  args: '',
  oneline: 'prints the allocated areas of a file',
  async run(context) {
    const { device } = context;
    let start = 0;
    let length = 0;
    let allocated = false;
    const print = async () => {
      if (length === 0) return;
      await context.stdout(
        `${sizeString(length)} (0x${length.toString(16)}) bytes ${allocated ? '    allocated' : 'not allocated'} at offset ${sizeString(start)} (0x${start.toString(16)})\n`,
      );
    };
    try {
      for (let position = 0; position < device.virtualSize; position += DEFAULT_MAP_WINDOW) {
        const windowLength = Math.min(DEFAULT_MAP_WINDOW, device.virtualSize - position);
        for (const run of await device.blockStatus(position, windowLength, { wantZero: false })) {
          const isAllocated = run.data || run.allocated === true;
          if (length > 0 && isAllocated === allocated) {
            length += run.length;
            continue;
          }
          await print();
          start = run.offset;
          length = run.length;
          allocated = isAllocated;
        }
      }
    } catch (error) {
      context.stderr(`vdisk: ${context.filename}: Failed to get allocation status: ${failureMessage(error)}\n`);
      return false;
    }
    await print();
    return true;
  },
};

/**
 * qemu-io's info: the format's name, then the cluster size and VM state offset as QEMU's
 * BlockDriverInfo gives them for a driver that reports neither (raw: `0 bytes`), then the
 * format-specific information vdisk's `info` shows, when the driver has any.
 */
const info: IoCommand = {
  name: 'info',
  altname: 'i',
  argmin: 0,
  argmax: 0,
  oneline: 'prints information about the current file',
  async run(context) {
    let text = `format name: ${context.device.format}\ncluster size: 0 bytes\nvm state offset: 0 bytes\n`;
    const specific = context.device.info();
    if (specific) {
      text += 'Format specific information:\n';
      for (const [key, value] of Object.entries(specific.data)) text += `    ${key.replaceAll('-', ' ')}: ${value}\n`;
    }
    await context.stdout(text);
    return true;
  },
};

const length: IoCommand = {
  name: 'length',
  altname: 'l',
  argmin: 0,
  argmax: 0,
  oneline: 'gets the length of the current file',
  async run(context) {
    await context.stdout(`${sizeString(context.device.virtualSize)}\n`);
    return true;
  },
};

/** Ends the script: later commands do not run (qemu-io's quit). */
const quit: IoCommand = {
  name: 'quit',
  altname: 'q',
  argmin: 0,
  argmax: 0,
  oneline: 'exit the program',
  async run() {
    return true;
  },
};

const help: IoCommand = {
  name: 'help',
  altname: '?',
  argmin: 0,
  argmax: 1,
  args: '[command]',
  oneline: 'help for one or all commands',
  async run(context, _name, words) {
    const line = (command: IoCommand) =>
      `${command.name} ${command.args === undefined ? '' : `${command.args} `}-- ${command.oneline}\n`;
    if (words.length === 1) {
      const command = findCommand(words[0] as string);
      if (!command) {
        await context.stdout(`command ${words[0]} not found\n`);
        return false;
      }
      await context.stdout(line(command));
      return true;
    }
    await context.stdout(`${IO_COMMANDS.map(line).join('')}\nUse 'help commandname' for extended help.\n`);
    return true;
  },
};

/** The commands, sorted by name as qemu-io keeps its table. */
export const IO_COMMANDS: readonly IoCommand[] = [discard, flush, help, info, length, map, quit, read, write];

export function findCommand(name: string): IoCommand | undefined {
  return IO_COMMANDS.find((command) => command.name === name || command.altname === name);
}

export function isQuit(command: IoCommand): boolean {
  return command === quit;
}
