// NBD benchmark (part of `pnpm bench`, or alone): `vdisk serve` against `qemu-nbd -t -e 16 -r`,
// each serving over a Unix socket, with libnbd's clients timed:
//   1. nbdcopy of the Bochs image to null: (vdisk: the whole image; qemu-nbd: a 128 MiB
//      prefix image, since QEMU reads Bochs at about 10 MB/s), as bytes per second;
//   2. nbdcopy of a fully allocated raw image (Node cannot see a raw file's holes, qemu-nbd
//      can, so the raw file has none);
//   3. random 4 KiB reads (seeded offsets, the same for both) at depth 1 and 16, from a
//      python3-libnbd client.
// Servers start once per case (untimed); runs alternate after a warm-up; medians.
//
//   node scripts/bench/nbd.mjs [--dir .bench] [--raw R --image I] [--size-mib 64] [--runs 3] [--reads 5000] [--json]
//
// Without --raw/--image it makes its own inputs of --size-mib in DIR (to try it on a small disk).
// With --json it prints {cases, targets, rows} for run.mjs instead of a table.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, open, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomOffsets } from './offsets.mjs';

const MiB = 1024 * 1024;
const root = new URL('../../', import.meta.url).pathname;
const vdiskBin = join(root, 'packages/cli/dist/bundle/vdisk.cjs');

const { values: args } = parseArgs({
  options: {
    dir: { type: 'string', default: join(root, '.bench') },
    raw: { type: 'string' },
    image: { type: 'string' },
    'size-mib': { type: 'string', default: '64' },
    'prefix-mib': { type: 'string', default: '128' },
    runs: { type: 'string', default: '3' },
    reads: { type: 'string', default: '5000' },
    seed: { type: 'string', default: '42' },
    json: { type: 'boolean', default: false },
  },
});
const RUNS = Math.max(1, Number(args.runs));
const READS = Number(args.reads);
const SEED = Number(args.seed);
const dir = args.dir;
const log = (text) => process.stderr.write(`${text}\n`);

function have(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}
/** The python3 that has python3-libnbd's module (pyenv's, first on a PATH, may not). */
const python = ['python3', '/usr/bin/python3'].find(
  (p) => spawnSync(p, ['-c', 'import nbd'], { stdio: 'ignore' }).status === 0,
);
const missing = ['qemu-nbd', 'nbdcopy', 'bximage', 'cmp'].filter((tool) => !have(tool));
if (!python) missing.push('python3-libnbd');
if (missing.length > 0) {
  log(`bench nbd: missing ${missing.join(', ')}: apt-get install qemu-utils libnbd-bin python3-libnbd bximage`);
  process.exit(1);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

// ---------------------------------------------------------------- servers

async function waitFor(test, what, timeoutMs = 30_000) {
  const start = Date.now();
  while (!test()) {
    if (Date.now() - start > timeoutMs) throw new Error(`bench nbd: ${what} did not start`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Peak RSS of a running process, in MB (Linux's VmHWM). */
function peakRss(pid) {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Starts a server; resolves with its URI and a stop() that gives its peak RSS. */
async function startServer(kind, format, file) {
  const socket = join(dir, `${kind}.sock`);
  await rm(socket, { force: true });
  const argv =
    kind === 'vdisk'
      ? [vdiskBin, 'serve', '-f', format, '--read-only', '--socket', socket, file]
      : ['-t', '-e', '16', '-r', '-f', format, '-k', socket, file];
  const child = spawn(kind === 'vdisk' ? process.execPath : 'qemu-nbd', argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  await waitFor(() => exited || (kind === 'vdisk' ? /serving/.test(stderr) : existsSync(socket)), `${kind} ${file}`);
  if (exited) throw new Error(`bench nbd: ${kind} exited: ${stderr}`);
  return {
    uri: `nbd+unix:///?socket=${socket}`,
    stop: async () => {
      const rssMB = peakRss(child.pid);
      child.kill('SIGTERM');
      await new Promise((resolve) => (exited ? resolve() : child.on('exit', resolve)));
      return rssMB;
    },
  };
}

// ---------------------------------------------------------------- clients

function timed(command, argv) {
  const start = process.hrtime.bigint();
  const result = spawnSync(command, argv, { encoding: 'utf8', maxBuffer: 64 * MiB });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (result.status !== 0) throw new Error(`bench nbd: ${command} ${argv.join(' ')} failed: ${result.stderr}`);
  return { seconds, stdout: result.stdout };
}

const RANDOM_READS = `
import json, sys, time, nbd
uri, path, depth = sys.argv[1], sys.argv[2], int(sys.argv[3])
offsets = [int(x) for x in open(path).read().split()]
h = nbd.NBD()
h.connect_uri(uri)
start = time.perf_counter()
if depth == 1:
    for offset in offsets:
        h.pread(4096, offset)
else:
    i = 0
    while i < len(offsets) or h.aio_in_flight() > 0:
        while i < len(offsets) and h.aio_in_flight() < depth:
            h.aio_pread(nbd.Buffer(4096), offsets[i], completion=lambda error: 1)
            i += 1
        h.poll(-1)
seconds = time.perf_counter() - start
h.shutdown()
print(json.dumps({"reads": len(offsets), "seconds": seconds}))
`;

/**
 * One case: for each entry a server is started, then rounds run the client against each
 * in turn (one warm-up round, discarded, then RUNS rounds). Returns medians and peak RSS.
 */
async function runCase(entries, client) {
  const servers = [];
  for (const entry of entries) servers.push(await startServer(entry.kind, entry.format, entry.file));
  const samples = entries.map(() => []);
  try {
    for (let round = 0; round <= RUNS; round++) {
      entries.forEach((entry, i) => {
        const seconds = client(servers[i].uri, entry);
        if (round > 0) samples[i].push(seconds);
      });
    }
  } finally {
    for (const [i, server] of servers.entries()) entries[i].rssMB = await server.stop();
  }
  return entries.map((entry, i) => ({
    name: entry.name,
    bytes: entry.bytes,
    seconds: median(samples[i]),
    runs: samples[i].map((s) => Number(s.toFixed(4))),
    serverRssMB: entry.rssMB,
  }));
}

const nbdcopy = (uri) => timed('nbdcopy', [uri, 'null:']).seconds;

// ---------------------------------------------------------------- inputs

async function randomFile(path, size, holes) {
  const handle = await open(path, 'w');
  for (let at = 0; at < size; at += MiB) {
    if (holes && (at / MiB) % 5 === 1) continue;
    const block = randomBytes(Math.min(MiB, size - at));
    await handle.write(block, 0, block.length, at);
  }
  await handle.truncate(size);
  await handle.close();
}

function bximageConvert(raw, image) {
  spawnSync('rm', ['-f', image]);
  const result = spawnSync('bximage', ['-func=convert', '-imgmode=growing', '-q', raw, image], { stdio: 'ignore' });
  if (result.status !== 0 || !existsSync(image)) throw new Error(`bximage convert ${raw} failed`);
}

async function inputs() {
  await mkdir(dir, { recursive: true });
  let raw = args.raw;
  let image = args.image;
  if (!raw || !image) {
    raw = join(dir, 'nbd-disk.raw');
    image = join(dir, 'nbd-disk.bochs');
    const size = Number(args['size-mib']) * MiB;
    log(`bench nbd: making ${raw} (${size / MiB} MiB) and ${image} ...`);
    await randomFile(raw, size, true);
    bximageConvert(raw, image);
  }
  const size = (await stat(raw)).size;
  const prefixSize = Math.min(size, Number(args['prefix-mib']) * MiB);
  const prefixRaw = join(dir, 'nbd-prefix.raw');
  const prefix = join(dir, 'nbd-prefix.bochs');
  const head = Buffer.alloc(prefixSize);
  const handle = await open(raw);
  await handle.read(head, 0, prefixSize, 0);
  await handle.close();
  await writeFile(prefixRaw, head);
  bximageConvert(prefixRaw, prefix);
  const full = join(dir, 'nbd-full.raw');
  log(`bench nbd: making ${full}, fully allocated (${size / MiB} MiB) ...`);
  await randomFile(full, size, false);
  return { raw, image, size, prefixRaw, prefix, prefixSize, full, made: [prefixRaw, prefix, full] };
}

// ---------------------------------------------------------------- the benchmark

export async function main() {
  const input = await inputs();
  const { size, prefixSize } = input;

  log('bench nbd: checking that nbdcopy from vdisk serve gives the image bytes ...');
  const check = join(dir, 'nbd-check.raw');
  {
    const server = await startServer('vdisk', 'bochs', input.image);
    try {
      timed('nbdcopy', [server.uri, check]);
    } finally {
      await server.stop();
    }
    const same = spawnSync('cmp', [check, input.raw], { encoding: 'utf8' });
    await rm(check, { force: true });
    if (same.status !== 0) throw new Error(`bench nbd: nbdcopy from vdisk serve differs: ${same.stdout}`);
  }

  log('bench nbd: nbdcopy of the Bochs image (vdisk: whole; qemu-nbd: prefix) ...');
  const [bochsVdisk, bochsQemu] = await runCase(
    [
      { kind: 'vdisk', name: 'vdisk serve -f bochs', format: 'bochs', file: input.image, bytes: size },
      { kind: 'qemu', name: 'qemu-nbd -f bochs (prefix)', format: 'bochs', file: input.prefix, bytes: prefixSize },
    ],
    nbdcopy,
  );
  log('bench nbd: nbdcopy of a fully allocated raw image ...');
  const [rawVdisk, rawQemu] = await runCase(
    [
      { kind: 'vdisk', name: 'vdisk serve -f raw', format: 'raw', file: input.full, bytes: size },
      { kind: 'qemu', name: 'qemu-nbd -f raw', format: 'raw', file: input.full, bytes: size },
    ],
    nbdcopy,
  );
  log(`bench nbd: ${READS} random 4 KiB reads (prefix image), depth 1 and 16 ...`);
  const offsetsFile = join(dir, 'nbd-offsets.txt');
  await writeFile(offsetsFile, `${randomOffsets(prefixSize, READS, SEED).join('\n')}\n`);
  const randomReads = {};
  for (const depth of [1, 16]) {
    const reads = (uri) =>
      JSON.parse(timed(python, ['-c', RANDOM_READS, uri, offsetsFile, String(depth)]).stdout).seconds;
    const [v, q] = await runCase(
      [
        { kind: 'vdisk', name: `vdisk serve, depth ${depth}`, format: 'bochs', file: input.prefix, bytes: 0 },
        { kind: 'qemu', name: `qemu-nbd, depth ${depth}`, format: 'bochs', file: input.prefix, bytes: 0 },
      ],
      reads,
    );
    randomReads[depth] = {
      vdisk: { ...v, readsPerSecond: READS / v.seconds },
      qemu: { ...q, readsPerSecond: READS / q.seconds },
    };
  }
  await rm(offsetsFile, { force: true });
  for (const file of input.made) await rm(file, { force: true });

  const rate = (c) => c.bytes / c.seconds / MiB;
  const cases = {
    nbdcopyBochs: { vdisk: { ...bochsVdisk, MiBps: rate(bochsVdisk) }, qemu: { ...bochsQemu, MiBps: rate(bochsQemu) } },
    nbdcopyRaw: { vdisk: { ...rawVdisk, MiBps: rate(rawVdisk) }, qemu: { ...rawQemu, MiBps: rate(rawQemu) } },
    nbdRandomReads: { reads: READS, ...randomReads },
  };
  const b = cases.nbdcopyBochs;
  const r = cases.nbdcopyRaw;
  const targets = [
    {
      name: 'nbdcopy from vdisk serve (bochs) ≥ 30× qemu-nbd',
      ok: b.vdisk.MiBps >= 30 * b.qemu.MiBps,
      measured: `${(b.vdisk.MiBps / b.qemu.MiBps).toFixed(1)}×`,
    },
    {
      name: 'nbdcopy from vdisk serve (full raw) ≥ 70% of qemu-nbd',
      ok: r.vdisk.MiBps >= 0.7 * r.qemu.MiBps,
      measured: `${((100 * r.vdisk.MiBps) / r.qemu.MiBps).toFixed(0)}%`,
    },
  ];
  const mbs = (v) => `${v.toFixed(0)} MiB/s`;
  const mb = (v) => `${v.toFixed(0)} MB (server)`;
  const rows = [
    [
      `nbdcopy bochs → null: (vdisk ${size / MiB} MiB, qemu-nbd ${prefixSize / MiB} MiB)`,
      mbs(b.vdisk.MiBps),
      mbs(b.qemu.MiBps),
      `${(b.vdisk.MiBps / b.qemu.MiBps).toFixed(1)}×`,
      mb(b.vdisk.serverRssMB),
    ],
    [
      `nbdcopy fully allocated raw → null: (${size / MiB} MiB)`,
      mbs(r.vdisk.MiBps),
      mbs(r.qemu.MiBps),
      `${((100 * r.vdisk.MiBps) / r.qemu.MiBps).toFixed(0)}% of qemu-nbd`,
      mb(r.vdisk.serverRssMB),
    ],
    ...[1, 16].map((depth) => {
      const c = randomReads[depth];
      return [
        `random 4 KiB reads over NBD, depth ${depth} (nbdsh client)`,
        `${c.vdisk.readsPerSecond.toFixed(0)} reads/s`,
        `${c.qemu.readsPerSecond.toFixed(0)} reads/s`,
        `${(c.vdisk.readsPerSecond / c.qemu.readsPerSecond).toFixed(2)}×`,
        mb(c.vdisk.serverRssMB),
      ];
    }),
  ];
  return { cases, targets, rows };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await main();
  if (args.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    const header = ['case', 'vdisk', 'qemu', 'ratio', 'vdisk peak RSS'];
    const lines = [header, header.map(() => '---'), ...result.rows];
    process.stdout.write(`${lines.map((l) => `| ${l.join(' | ')} |`).join('\n')}\n\n`);
    for (const t of result.targets) process.stdout.write(`${t.ok ? 'MET ' : 'MISS'}  ${t.name}: ${t.measured}\n`);
  }
}
