import { spawn } from 'node:child_process';
import { copyFile } from 'node:fs/promises';
import { createRegistry } from '@vdisk/core';
import { openFile } from '@vdisk/core/node';
import { bochsModule } from '@vdisk/format-bochs';
import { rawModule } from '@vdisk/format-raw';
import { VDISK } from './vdisk-process.js';

/**
 * The kill -9 test's engine, shared by the CLI test (a short slice) and the soak script
 * (scripts/kill-soak.mjs runs it for as long as asked): `vdisk io` runs a long script of
 * writes and flushes and is killed with SIGKILL at a random moment; then the image must open,
 * check with at most leaks, and hold every write whose `wrote` line was printed.
 *
 * The writes go to disjoint byte ranges (random lengths, sharing extents, so that both new
 * slots and writes into allocated extents happen), each with its own nonzero pattern: the
 * expected disk is a model built from the printed lines alone, never from vdisk's answers.
 */

export interface WriteCommand {
  offset: number;
  length: number;
  pattern: number;
}

export interface KillScript {
  writes: WriteCommand[];
  /** The `-c` commands: the writes, with a `flush` after every `flushEvery`. */
  commands: string[];
}

/** A small seeded generator (mulberry32), so that a failing run can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` writes in disjoint cells of `cellSize` bytes of a disk of `diskSize`, in random order. */
export function makeKillScript(random: () => number, diskSize: number, count: number, cellSize = 8192): KillScript {
  const cells = Array.from({ length: Math.floor(diskSize / cellSize) }, (_, i) => i);
  for (let i = cells.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [cells[i], cells[j]] = [cells[j] as number, cells[i] as number];
  }
  const writes: WriteCommand[] = [];
  const commands: string[] = [];
  for (let i = 0; i < count && i < cells.length; i++) {
    const length = 1 + Math.floor(random() * cellSize);
    const start = (cells[i] as number) * cellSize + Math.floor(random() * (cellSize - length + 1));
    const pattern = (i % 254) + 1;
    writes.push({ offset: start, length, pattern });
    commands.push(`write -P ${pattern} ${start} ${length}`);
    if (i % 10 === 9) commands.push('flush');
  }
  return { writes, commands };
}

export interface KillOutcome {
  /** How many `wrote` lines were printed before the kill. */
  acknowledged: number;
  /** Whether the kill came before the script ended (otherwise the run proves nothing). */
  killedEarly: boolean;
}

/**
 * Runs `vdisk io -f FORMAT` with the script on `image` and kills it with SIGKILL after the
 * `killAfter`-th `wrote` line plus up to 2 ms (or, for 0, up to 60 ms after the start, which
 * lands in Node's start-up or the open). Resolves with the `wrote` lines it printed.
 */
export async function runAndKill(
  image: string,
  format: string,
  script: KillScript,
  killAfter: number,
  random: () => number,
): Promise<KillOutcome> {
  const args = [VDISK, 'io', '-f', format, ...script.commands.flatMap((command) => ['-c', command]), image];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let lines = 0;
  let killed = false;
  const kill = () => {
    if (killed) return;
    killed = true;
    setTimeout(() => child.kill('SIGKILL'), Math.floor(random() * 3));
  };
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
    lines = (stdout.match(/^wrote /gm) ?? []).length;
    if (killAfter > 0 && lines >= killAfter) kill();
  });
  if (killAfter === 0) setTimeout(kill, Math.floor(random() * 60));
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal })),
  );
  if (signal !== 'SIGKILL' && code !== 0) throw new Error(`vdisk io failed (${code}) before it was killed`);
  // Every complete line counts: one still in the pipe was printed after its write was done.
  const acknowledged = (stdout.match(/^wrote \d+\/\d+ bytes at offset \d+$/gm) ?? []).length;
  return { acknowledged, killedEarly: signal === 'SIGKILL' };
}

const registry = createRegistry(rawModule, bochsModule);

export interface Verification {
  /** The first byte that differs from the model, described; undefined when none does. */
  difference?: string;
  /** Corruptions `check` found (0 for a format without check); leaks are allowed. */
  corruptions: number;
  problems: string;
}

/**
 * Opens the killed image with vdisk's library, checks it, and reads the whole disk: every
 * acknowledged write reads back exactly; the one that may have been in flight reads as its
 * pattern or as zeros, byte by byte; everything else reads as zeros.
 */
export async function verifyImage(
  image: string,
  format: string,
  script: KillScript,
  acknowledged: number,
): Promise<Verification> {
  const device = await openFile(registry, image, { format });
  try {
    const report = device.canCheck ? await device.check() : { problems: [] };
    const corruptions = report.problems.filter((problem) => problem.kind === 'corruption').length;
    const problems = report.problems.map((problem) => problem.message).join('; ');
    const disk = await device.read(0, device.virtualSize);
    const expected = new Uint8Array(device.virtualSize);
    const maybe = new Uint8Array(device.virtualSize); // the pattern a byte may hold instead of zero
    script.writes.forEach((write, index) => {
      if (index < acknowledged) expected.fill(write.pattern, write.offset, write.offset + write.length);
      else if (index === acknowledged) maybe.fill(write.pattern, write.offset, write.offset + write.length);
    });
    for (let i = 0; i < disk.length; i++) {
      const byte = disk[i] as number;
      if (byte === expected[i]) continue;
      if (expected[i] === 0 && byte === maybe[i]) continue;
      const write = script.writes.findIndex((w) => i >= w.offset && i < w.offset + w.length);
      const difference = `byte ${i} is ${byte}, expected ${expected[i]} (write #${write}, ${acknowledged} acknowledged)`;
      return { difference, corruptions, problems };
    }
    return { corruptions, problems };
  } finally {
    await device.close();
  }
}

/** A fresh copy of `template` at `path`. */
export function freshImage(template: string, path: string): Promise<void> {
  return copyFile(template, path);
}
