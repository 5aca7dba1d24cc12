// vdisk's benchmark: `pnpm build && pnpm bench`. See docs/benchmark.md.
//
// It makes its own inputs under .bench/ with bximage (a raw file of mostly random data
// with zero holes, converted to a growing image), runs each pair of commands side by side,
// alternating, with a warm-up run first, and prints medians and ratios as a table. The
// results are also written to .bench/results.json. Big files are deleted at the end
// unless --keep is given.
//
//   node scripts/bench/run.mjs [--size-mib 1024] [--runs 3] [--batch 10000] [--keep]
//   node scripts/bench/run.mjs --only startup    (start-up alone: the small image only, about 25 s)
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, open, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { READ_SIZE, randomOffsets } from './offsets.mjs';
import { benchOtherFormats } from './other-formats.mjs';

const MiB = 1024 * 1024;
const root = new URL('../../', import.meta.url).pathname;
const dir = join(root, '.bench');
const vdiskBin = join(root, 'packages/cli/dist/bundle/vdisk.cjs');

const { values: args } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '1024' },
    'small-mib': { type: 'string', default: '64' },
    runs: { type: 'string', default: '3' },
    batch: { type: 'string', default: '10000' },
    'batch-qemu': { type: 'string', default: '1000' },
    reads: { type: 'string', default: '5000' },
    seed: { type: 'string', default: '42' },
    keep: { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});
if (args.only !== undefined && args.only !== 'startup') {
  process.stderr.write(`bench: --only ${args.only}: the one part that runs alone is startup\n`);
  process.exit(1);
}
const SIZE = Number(args['size-mib']) * MiB;
const SMALL = Number(args['small-mib']) * MiB;
const RUNS = Math.max(3, Number(args.runs));
const BATCH = Number(args.batch);
const BATCH_QEMU = Math.min(BATCH, Number(args['batch-qemu']));
const READS = Number(args.reads);
const SEED = Number(args.seed);
/** Start-up runs are short and the differences measured small: many of them. */
const STARTUP_RUNS = Math.max(RUNS, 31);

// ---------------------------------------------------------------- tools

function have(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}
const missing = [
  ['bximage', 'apt-get install bximage'],
  ['qemu-img', 'apt-get install qemu-utils'],
  ['qemu-io', 'apt-get install qemu-utils'],
  ['/usr/bin/time', 'apt-get install time   (GNU time, for peak RSS)'],
  ['cmp', 'apt-get install diffutils'],
  ['qemu-nbd', 'apt-get install qemu-utils'],
  ['nbdcopy', 'apt-get install libnbd-bin python3-libnbd'],
].filter(([tool]) => !have(tool));
if (missing.length > 0) {
  for (const [tool, how] of missing) process.stderr.write(`bench: ${tool} is missing: ${how}\n`);
  process.exit(1);
}
if (!existsSync(vdiskBin)) {
  process.stderr.write(`bench: ${vdiskBin} is missing: run \`pnpm build\` first\n`);
  process.exit(1);
}

// ---------------------------------------------------------------- running and timing

/** Runs a command under GNU time: wall seconds (measured here) and peak RSS in MB. */
function measure(command, argv, { env, stdout } = {}) {
  const rssFile = join(dir, '.rss');
  const start = process.hrtime.bigint();
  const result = spawnSync('/usr/bin/time', ['-f', '%M', '-o', rssFile, command, ...argv], {
    env: env ?? process.env,
    stdio: ['ignore', stdout ? 'pipe' : 'ignore', 'pipe'],
    maxBuffer: 64 * MiB,
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (result.status !== 0) {
    throw new Error(`${command} ${argv.slice(0, 6).join(' ')} failed (${result.status}): ${result.stderr}`);
  }
  return { seconds, rssMB: readRss(rssFile), stdout: result.stdout?.toString() };
}
function readRss(file) {
  // GNU time may write a line about the command's status before the number.
  const text = readFileSync(file, 'utf8').trim().split('\n').pop();
  return Number(text) / 1024;
}
const vdisk = (...argv) => ['node', [vdiskBin, ...argv]];
const sh = (script) => ['sh', ['-c', script]];
/** Flush dirty pages of earlier runs (untimed), so that no run pays for another's writes. */
const settle = () => spawnSync('sync');

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Runs the commands of `pair` alternately: one warm-up round (discarded), then `runs`
 * rounds. Each entry is { name, cmd: () => [command, argv], before?, after? }.
 */
function alternate(pair, runs = RUNS) {
  const samples = pair.map(() => []);
  for (let round = 0; round <= runs; round++) {
    pair.forEach((entry, i) => {
      entry.before?.();
      settle();
      const [command, argv] = entry.cmd();
      const result = measure(command, argv, entry);
      entry.after?.(result);
      if (round > 0) samples[i].push(result);
    });
  }
  return pair.map((entry, i) => ({
    name: entry.name,
    seconds: median(samples[i].map((s) => s.seconds)),
    minSeconds: Math.min(...samples[i].map((s) => s.seconds)),
    rssMB: Math.max(...samples[i].map((s) => s.rssMB)),
    runs: samples[i].map((s) => Number(s.seconds.toFixed(4))),
  }));
}

function cmp(a, b) {
  const result = spawnSync('cmp', [a, b], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`bench: ${a} and ${b} differ: ${result.stdout}${result.stderr}`);
}

// ---------------------------------------------------------------- inputs

/**
 * A raw disk of `size` bytes: 1 MiB blocks, about 20% left as holes, 20% with a zeroed
 * head of random length (whole 4 KiB blocks), the rest random. Seeded block choice; the
 * data itself is random bytes.
 */
async function makeRaw(path, size) {
  let state = SEED;
  const rnd = () => {
    state = (Math.imul(state, 1103515245) + 12345) & 0x7fffffff;
    return state / 0x80000000;
  };
  const handle = await open(path, 'w');
  for (let at = 0; at < size; at += MiB) {
    const r = rnd();
    if (r < 0.2) continue;
    const block = randomBytes(Math.min(MiB, size - at));
    if (r < 0.4) block.fill(0, 0, Math.floor(rnd() * block.length) & ~4095);
    await handle.write(block, 0, block.length, at);
  }
  await handle.truncate(size);
  await handle.close();
}

function bximageConvert(raw, image) {
  spawnSync('rm', ['-f', image]); // with -q bximage will not overwrite
  const result = spawnSync('bximage', ['-func=convert', '-imgmode=growing', '-q', raw, image], { stdio: 'ignore' });
  if (result.status !== 0 || !existsSync(image)) throw new Error(`bximage convert ${raw} failed`);
}

async function sizeOf(path) {
  return existsSync(path) ? (await stat(path)).size : -1;
}

/** The inputs; with `small`, only the small image (made from a raw file of its own if need be). */
async function prepare({ small = false } = {}) {
  await mkdir(dir, { recursive: true });
  const raw = join(dir, 'disk.raw');
  const image = join(dir, 'disk.bochs');
  const smallRaw = join(dir, 'small.raw');
  const smallImage = join(dir, 'small.bochs');
  if (small && (await sizeOf(raw)) !== SIZE) {
    if ((await sizeOf(smallRaw)) !== SMALL || !existsSync(smallImage)) {
      await makeRaw(smallRaw, SMALL);
      bximageConvert(smallRaw, smallImage);
    }
    return { smallRaw, smallImage };
  }
  if ((await sizeOf(raw)) !== SIZE || !existsSync(image)) {
    log(`making ${raw} (${SIZE / MiB} MiB) and ${image} with bximage ...`);
    await makeRaw(raw, SIZE);
    bximageConvert(raw, image);
  }
  if ((await sizeOf(smallRaw)) !== SMALL || !existsSync(smallImage)) {
    const handle = await open(raw);
    const head = Buffer.alloc(SMALL);
    await handle.read(head, 0, SMALL, 0);
    await handle.close();
    await writeFile(smallRaw, head);
    bximageConvert(smallRaw, smallImage);
  }
  return { raw, image, smallRaw, smallImage };
}

function log(text) {
  process.stderr.write(`${text}\n`);
}

/** Two Bochs images equal but for the header's timestamp (0x54..0x57), compared in chunks. */
async function sameButTimestamp(a, b) {
  const [x, y] = await Promise.all([open(a), open(b)]);
  try {
    const [sx, sy] = await Promise.all([x.stat(), y.stat()]);
    if (sx.size !== sy.size) throw new Error(`bench: ${a} and ${b} differ in size: ${sx.size}, ${sy.size}`);
    const bx = Buffer.alloc(4 * MiB);
    const by = Buffer.alloc(4 * MiB);
    for (let at = 0; at < sx.size; at += bx.length) {
      const length = Math.min(bx.length, sx.size - at);
      await Promise.all([x.read(bx, 0, length, at), y.read(by, 0, length, at)]);
      if (at === 0) {
        bx.fill(0, 0x54, 0x58);
        by.fill(0, 0x54, 0x58);
      }
      if (!bx.subarray(0, length).equals(by.subarray(0, length))) {
        throw new Error(`bench: ${a} and ${b} differ in the ${MiB * 4} bytes at ${at}`);
      }
    }
  } finally {
    await Promise.all([x.close(), y.close()]);
  }
}

/**
 * Start-up: Node alone, vdisk's --version, probe and info of the small image, qemu-img info,
 * alternating (a run of each in turn, so that load on the machine falls on all alike).
 */
function benchStartup(inputs) {
  log('start-up: node, vdisk probe/info, qemu-img info ...');
  const noCa = { ...process.env };
  delete noCa.NODE_EXTRA_CA_CERTS;
  const startupPair = [
    { name: 'node -e 0', cmd: () => ['node', ['-e', '0']] },
    { name: 'vdisk --version', cmd: () => vdisk('--version') },
    { name: 'vdisk probe', cmd: () => vdisk('probe', inputs.smallImage) },
    { name: 'vdisk info', cmd: () => vdisk('info', inputs.smallImage) },
    { name: 'qemu-img info', cmd: () => ['qemu-img', ['info', inputs.smallImage]] },
  ];
  const startup = alternate(startupPair, STARTUP_RUNS);
  // This environment may set NODE_EXTRA_CA_CERTS, which makes Node 20 parse a CA bundle
  // at every start: measure without it too, as most users run.
  const startupNoCa = process.env.NODE_EXTRA_CA_CERTS
    ? alternate(
        startupPair.slice(0, 4).map((e) => ({ ...e, name: `${e.name} (no NODE_EXTRA_CA_CERTS)`, env: noCa })),
        STARTUP_RUNS,
      )
    : [];
  return [...startup, ...startupNoCa];
}

// ---------------------------------------------------------------- the benchmark

const results = { date: new Date().toISOString(), machine: machine(), cases: {}, targets: [] };

function machine() {
  const cpu = cpus();
  return {
    cpus: cpu.length,
    cpuModel: cpu[0]?.model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    qemu: spawnSync('qemu-img', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0],
    loadAtStart: loadavg().map((l) => Number(l.toFixed(2))),
  };
}

async function main() {
  if (args.only === 'startup') {
    results.cases.startup = benchStartup(await prepare({ small: true }));
    results.machine.loadAtEnd = loadavg().map((l) => Number(l.toFixed(2)));
    checkStartupTargets();
    await writeFile(join(dir, 'results-startup.json'), `${JSON.stringify(results, null, 2)}\n`);
    const rows = [];
    startupTableRows((...cells) => rows.push(cells));
    printRows(rows);
    log(`results: ${join(dir, 'results-startup.json')}`);
    return;
  }
  const inputs = await prepare();
  const out = join(dir, 'out.raw');
  const qemuOut = join(dir, 'qemu.raw');
  const rmOut = () => spawnSync('rm', ['-f', out, qemuOut]);

  // Correctness, once: vdisk's output equals the raw file bximage converted, and equals
  // qemu-img's conversion of the same image.
  log('checking that vdisk and qemu-img convert to the same bytes ...');
  rmOut();
  measure(...vdisk('convert', '-O', 'raw', inputs.smallImage, out));
  measure('qemu-img', ['convert', '-f', 'bochs', '-O', 'raw', inputs.smallImage, qemuOut]);
  cmp(out, qemuOut);
  cmp(out, inputs.smallRaw);
  rmOut();
  measure(...vdisk('convert', '-O', 'raw', inputs.image, out));
  cmp(out, inputs.raw);
  rmOut();

  // 1 and 2: convert.
  log('convert: vdisk (whole image) / qemu-img bochs (small image) / qemu-img raw ...');
  const [vdiskConvert, qemuBochs, qemuRaw] = alternate([
    {
      name: 'vdisk convert -O raw (bochs)',
      cmd: () => vdisk('convert', '-O', 'raw', inputs.image, out),
      before: rmOut,
    },
    {
      name: `qemu-img convert -f bochs -O raw (${SMALL / MiB} MiB image)`,
      cmd: () => ['qemu-img', ['convert', '-f', 'bochs', '-O', 'raw', inputs.smallImage, qemuOut]],
      before: rmOut,
    },
    {
      name: 'qemu-img convert -f raw -O raw (same bytes as raw)',
      cmd: () => ['qemu-img', ['convert', '-f', 'raw', '-O', 'raw', inputs.raw, qemuOut]],
      before: rmOut,
    },
  ]);
  rmOut();
  const [qemuIo] = alternate([
    {
      name: "qemu-io -r -f bochs -c 'read 0 128M' (prefix)",
      cmd: () => ['qemu-io', ['-r', '-f', 'bochs', '-c', `read 0 ${Math.min(128, SIZE / MiB)}M`, inputs.image]],
    },
  ]);
  const rate = (bytes, s) => bytes / s / MiB;
  const vdiskRate = rate(SIZE, vdiskConvert.seconds);
  const qemuBochsRate = rate(SMALL, qemuBochs.seconds);
  const qemuIoRate = rate(Math.min(128 * MiB, SIZE), qemuIo.seconds);
  const qemuRawRate = rate(SIZE, qemuRaw.seconds);
  results.cases.convert = {
    vdisk: { ...vdiskConvert, bytes: SIZE, MiBps: vdiskRate },
    qemuImgBochs: { ...qemuBochs, bytes: SMALL, MiBps: qemuBochsRate },
    qemuIoBochsPrefix: { ...qemuIo, bytes: Math.min(128 * MiB, SIZE), MiBps: qemuIoRate },
    qemuImgRaw: { ...qemuRaw, bytes: SIZE, MiBps: qemuRawRate },
  };

  // 1b: convert -O bochs of the raw input against bximage's convert of it, and the raw copy's pace.
  log('convert -O bochs: vdisk / bximage, of the raw input ...');
  const ourBochs = join(dir, 'out.bochs');
  const bxBochs = join(dir, 'bximage.bochs');
  const rmBochs = () => spawnSync('rm', ['-f', ourBochs, bxBochs]);
  rmBochs();
  measure(...vdisk('convert', '-f', 'raw', '-O', 'bochs', inputs.raw, ourBochs));
  bximageConvert(inputs.raw, bxBochs);
  await sameButTimestamp(ourBochs, bxBochs);
  const [vdiskToBochs, bximageToBochs] = alternate([
    {
      name: 'vdisk convert -f raw -O bochs',
      cmd: () => vdisk('convert', '-f', 'raw', '-O', 'bochs', inputs.raw, ourBochs),
      before: rmBochs,
    },
    {
      name: 'bximage -func=convert -imgmode=growing',
      cmd: () => ['bximage', ['-func=convert', '-imgmode=growing', '-q', inputs.raw, bxBochs]],
      before: rmBochs,
    },
  ]);
  rmBochs();
  results.cases.convertToBochs = {
    vdisk: { ...vdiskToBochs, bytes: SIZE, MiBps: rate(SIZE, vdiskToBochs.seconds) },
    bximage: { ...bximageToBochs, bytes: SIZE, MiBps: rate(SIZE, bximageToBochs.seconds) },
  };

  // 3: start-up, probe and info.
  results.cases.startup = benchStartup(inputs);

  // 3b: probing many small images.
  log(`batch: ${BATCH} small images ...`);
  const batchDir = join(dir, 'batch');
  await rm(batchDir, { recursive: true, force: true });
  await mkdir(batchDir);
  const seedImage = join(batchDir, 'seed.bochs');
  spawnSync('bximage', ['-func=create', '-hd=10M', '-imgmode=growing', '-q', seedImage], { stdio: 'ignore' });
  const files = [];
  for (let i = 0; i < BATCH; i++) {
    const file = join(batchDir, `img${String(i).padStart(5, '0')}.bochs`);
    await copyFile(seedImage, file);
    files.push(file);
  }
  await rm(seedImage);
  const qemuList = join(dir, 'batch-qemu.txt');
  await writeFile(qemuList, `${files.slice(0, BATCH_QEMU).join('\n')}\n`);
  const [batchVdisk, batchQemu] = alternate([
    { name: `vdisk probe (${BATCH} files, one call)`, cmd: () => vdisk('probe', ...files) },
    {
      name: `qemu-img info loop (${BATCH_QEMU} files)`,
      cmd: () => sh(`while read f; do qemu-img info "$f" >/dev/null || exit 1; done < ${qemuList}`),
    },
  ]);
  results.cases.batch = {
    vdisk: { ...batchVdisk, files: BATCH, perFileMs: (batchVdisk.seconds / BATCH) * 1000 },
    qemu: { ...batchQemu, files: BATCH_QEMU, perFileMs: (batchQemu.seconds / BATCH_QEMU) * 1000 },
  };
  await rm(batchDir, { recursive: true, force: true });
  await rm(qemuList, { force: true });

  // 4: random 4 KiB reads.
  log(`random reads: ${READS} x 4 KiB ...`);
  const offsets = randomOffsets(SIZE, READS, SEED);
  const qemuArgs = ['-r', '-f', 'bochs'];
  for (const offset of offsets) qemuArgs.push('-c', `read ${offset} 4k`);
  qemuArgs.push(inputs.image);
  const script = join(root, 'scripts/bench/random-reads.mjs');
  const nodeScript = join(root, 'scripts/bench/node-reads.mjs');
  const libRuns = { 1: [], 16: [] };
  const nodeRuns = { 1: [], 16: [] };
  const randomPair = [
    // qemu-io's own time: its wall time minus that of one read (start-up, open).
    { name: 'qemu-io, one process', cmd: () => ['qemu-io', qemuArgs] },
    {
      name: 'qemu-io start-up (one read)',
      cmd: () => ['qemu-io', ['-r', '-f', 'bochs', '-c', 'read 0 4k', inputs.image]],
    },
    ...[1, 16].map((depth) => ({
      name: `vdisk library, depth ${depth}`,
      cmd: () => ['node', [script, inputs.image, String(READS), String(SEED), String(depth)]],
      stdout: true,
      after: (r) => libRuns[depth].push(JSON.parse(r.stdout).seconds),
    })),
    // The platform's ceiling: node:fs reads of the same blocks of the raw input, no vdisk.
    ...[1, 16].map((depth) => ({
      name: `node:fs alone, depth ${depth}`,
      cmd: () => ['node', [nodeScript, inputs.raw, String(READS), String(SEED), String(depth)]],
      stdout: true,
      after: (r) => nodeRuns[depth].push(JSON.parse(r.stdout).seconds),
    })),
  ];
  const [qemuRandom, qemuStart, lib1, lib16, node1, node16] = alternate(randomPair);
  const libSeconds = (depth) => median(libRuns[depth].slice(1)); // the warm-up's is the first
  const nodeSeconds = (depth) => median(nodeRuns[depth].slice(1));
  const qemuReadSeconds = Math.max(1e-6, qemuRandom.seconds - qemuStart.seconds);
  results.cases.randomReads = {
    reads: READS,
    readSize: READ_SIZE,
    qemu: { ...qemuRandom, readsPerSecond: READS / qemuReadSeconds, startupSeconds: qemuStart.seconds },
    vdiskDepth1: { ...lib1, readsPerSecond: READS / libSeconds(1), readSeconds: libSeconds(1) },
    vdiskDepth16: { ...lib16, readsPerSecond: READS / libSeconds(16), readSeconds: libSeconds(16) },
    nodeDepth1: { ...node1, readsPerSecond: READS / nodeSeconds(1), readSeconds: nodeSeconds(1) },
    nodeDepth16: { ...node16, readsPerSecond: READS / nodeSeconds(16), readSeconds: nodeSeconds(16) },
  };

  // 4b: random 4 KiB writes through the library, depth 1 and 16, on a fresh copy of the
  // small image each run (the copy is untimed: the script times its writes and flush).
  log(`random writes: ${READS} x 4 KiB ...`);
  const writeScript = join(root, 'scripts/bench/random-writes.mjs');
  const scratchImage = join(dir, 'writes.bochs');
  const writeRuns = { 1: [], 16: [] };
  const [write1, write16] = alternate(
    [1, 16].map((depth) => ({
      name: `vdisk library writes, depth ${depth}`,
      cmd: () => ['node', [writeScript, scratchImage, String(READS), String(SEED), String(depth)]],
      stdout: true,
      before: () => spawnSync('cp', [inputs.smallImage, scratchImage]),
      after: (r) => writeRuns[depth].push(JSON.parse(r.stdout).seconds),
    })),
  );
  await rm(scratchImage, { force: true });
  const writeSeconds = (depth) => median(writeRuns[depth].slice(1));
  results.cases.randomWrites = {
    writes: READS,
    writeSize: READ_SIZE,
    image: `${SMALL / MiB} MiB bximage image`,
    vdiskDepth1: { ...write1, writesPerSecond: READS / writeSeconds(1), writeSeconds: writeSeconds(1) },
    vdiskDepth16: { ...write16, writesPerSecond: READS / writeSeconds(16), writeSeconds: writeSeconds(16) },
  };

  // 5: the largest image bximage makes: catalog of 1M entries, 8 TiB.
  log('largest image: 8 TiB, 1M catalog entries ...');
  const huge = join(dir, 'huge.bochs');
  spawnSync('rm', ['-f', huge]);
  spawnSync('bximage', ['-func=create', '-hd=8257535M', '-imgmode=growing', '-q', huge], { stdio: 'ignore' });
  const openScript = join(root, 'scripts/bench/open-time.mjs');
  const openRuns = [];
  const [hugeInfo, hugeOpen] = alternate([
    { name: 'vdisk info (8 TiB image)', cmd: () => vdisk('info', huge) },
    {
      name: 'vdisk library open (8 TiB image)',
      cmd: () => ['node', [openScript, huge]],
      stdout: true,
      after: (r) => openRuns.push(JSON.parse(r.stdout).seconds),
    },
  ]);
  results.cases.hugeImage = {
    fileBytes: await sizeOf(huge),
    info: hugeInfo,
    open: { ...hugeOpen, openSeconds: median(openRuns.slice(1)) },
  };
  await rm(huge, { force: true });

  // 7: VHD, VDI and VMDK convert to raw, on the small input.
  results.cases.otherFormats = await benchOtherFormats({
    dir,
    raw: inputs.smallRaw,
    bytes: SMALL,
    alternate,
    measure,
    cmp,
    vdisk,
    log,
  });

  // 6: NBD, `vdisk serve` against qemu-nbd (scripts/bench/nbd.mjs, which also runs alone).
  log('nbd: nbdcopy and random reads, vdisk serve against qemu-nbd ...');
  const nbd = spawnSync(
    'node',
    [
      join(root, 'scripts/bench/nbd.mjs'),
      '--json',
      ...['--dir', dir, '--raw', inputs.raw, '--image', inputs.image],
      ...['--runs', String(RUNS), '--reads', String(READS), '--seed', String(SEED)],
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * MiB },
  );
  if (nbd.status !== 0) throw new Error('bench: scripts/bench/nbd.mjs failed');
  results.nbd = JSON.parse(nbd.stdout);

  results.machine.loadAtEnd = loadavg().map((l) => Number(l.toFixed(2)));
  checkTargets();
  await writeFile(join(dir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  printTable();
  if (!args.keep) {
    for (const name of [
      'disk.raw',
      'disk.bochs',
      'small.raw',
      'small.bochs',
      'out.raw',
      'qemu.raw',
      'out.bochs',
      'bximage.bochs',
      '.rss',
    ]) {
      await rm(join(dir, name), { force: true });
    }
  }
  log(`results: ${join(dir, 'results.json')}${args.keep ? '' : ' (inputs deleted; --keep keeps them)'}`);
}

const target = (name, ok, measured) => results.targets.push({ name, ok, measured });

/** The start-up rows by name, and the probe and Node rows measured without NODE_EXTRA_CA_CERTS (when it was set). */
function startupRows() {
  const su = Object.fromEntries(results.cases.startup.map((s) => [s.name, s]));
  const probe = su['vdisk probe (no NODE_EXTRA_CA_CERTS)'] ?? su['vdisk probe'];
  const node = su['node -e 0 (no NODE_EXTRA_CA_CERTS)'] ?? su['node -e 0'];
  return { su, probe, node };
}

function checkStartupTargets() {
  const { probe, node } = startupRows();
  target(
    'one vdisk probe < 100 ms wall',
    probe.seconds < 0.1,
    `${(probe.seconds * 1000).toFixed(0)} ms (${probe.name})`,
  );
  // vdisk's own start-up: what it adds to Node's, measured without NODE_EXTRA_CA_CERTS (which
  // makes Node parse a CA bundle before any code runs).
  target(
    'vdisk probe ≤ node -e 0 + 20 ms',
    probe.seconds - node.seconds <= 0.02,
    `+${((probe.seconds - node.seconds) * 1000).toFixed(0)} ms (${probe.name} against ${node.name})`,
  );
}

function checkTargets() {
  const c = results.cases;
  target(
    'convert ≥ 100× qemu-img (bochs)',
    c.convert.vdisk.MiBps >= 100 * c.convert.qemuImgBochs.MiBps,
    `${(c.convert.vdisk.MiBps / c.convert.qemuImgBochs.MiBps).toFixed(1)}×`,
  );
  target(
    'convert ≥ 50% of qemu-img raw copy',
    c.convert.vdisk.MiBps >= 0.5 * c.convert.qemuImgRaw.MiBps,
    `${((100 * c.convert.vdisk.MiBps) / c.convert.qemuImgRaw.MiBps).toFixed(0)}%`,
  );
  target('convert peak RSS ≤ 150 MB', c.convert.vdisk.rssMB <= 150, `${c.convert.vdisk.rssMB.toFixed(0)} MB`);
  target(
    '8 TiB image opens in ≤ 150 MB and < 0.5 s',
    c.hugeImage.open.rssMB <= 150 && c.hugeImage.open.openSeconds < 0.5,
    `${c.hugeImage.open.rssMB.toFixed(0)} MB, ${(c.hugeImage.open.openSeconds * 1000).toFixed(0)} ms`,
  );
  checkStartupTargets();
  target(
    'batch probe ≥ 10× the qemu-img loop (per file)',
    c.batch.qemu.perFileMs >= 10 * c.batch.vdisk.perFileMs,
    `${(c.batch.qemu.perFileMs / c.batch.vdisk.perFileMs).toFixed(1)}×`,
  );
  results.targets.push(...results.nbd.targets);
  target(
    'convert -O bochs ≥ 10× bximage convert',
    c.convertToBochs.vdisk.MiBps >= 10 * c.convertToBochs.bximage.MiBps,
    `${(c.convertToBochs.vdisk.MiBps / c.convertToBochs.bximage.MiBps).toFixed(1)}×`,
  );
  target(
    'convert -O bochs ≥ 50% of qemu-img raw copy',
    c.convertToBochs.vdisk.MiBps >= 0.5 * c.convert.qemuImgRaw.MiBps,
    `${((100 * c.convertToBochs.vdisk.MiBps) / c.convert.qemuImgRaw.MiBps).toFixed(0)}%`,
  );
  target(
    'random reads, depth 16 ≥ 3× depth 1',
    c.randomReads.vdiskDepth16.readsPerSecond >= 3 * c.randomReads.vdiskDepth1.readsPerSecond,
    `${(c.randomReads.vdiskDepth16.readsPerSecond / c.randomReads.vdiskDepth1.readsPerSecond).toFixed(2)}× ` +
      `(node:fs alone: ${(c.randomReads.nodeDepth16.readsPerSecond / c.randomReads.nodeDepth1.readsPerSecond).toFixed(2)}×)`,
  );
  target(
    'random reads ≥ qemu (depth 1)',
    c.randomReads.vdiskDepth1.readsPerSecond >= c.randomReads.qemu.readsPerSecond,
    `${(c.randomReads.vdiskDepth1.readsPerSecond / c.randomReads.qemu.readsPerSecond).toFixed(2)}×`,
  );
}

const mbs = (v) => `${v.toFixed(0)} MiB/s`;
const ms = (s) => `${(s * 1000).toFixed(0)} ms`;
const mb = (v) => `${v.toFixed(0)} MB`;

function startupTableRows(row) {
  const { su, probe, node } = startupRows();
  const qinfo = su['qemu-img info'];
  for (const s of results.cases.startup) {
    if (s.name === 'qemu-img info') continue;
    const isInfo = s.name.startsWith('vdisk info') || s.name.startsWith('vdisk probe');
    row(
      `start-up: ${s.name}`,
      ms(s.seconds),
      isInfo ? ms(qinfo.seconds) : '',
      isInfo ? `${(qinfo.seconds / s.seconds).toFixed(2)}×` : '',
      mb(s.rssMB),
    );
  }
  row(
    'start-up: vdisk probe over node -e 0 (no NODE_EXTRA_CA_CERTS)',
    `+${ms(probe.seconds - node.seconds)} (fastest run: +${ms(probe.minSeconds - node.minSeconds)})`,
    '',
    '≤ +20 ms',
    '',
  );
}

function printTable() {
  const c = results.cases;
  const rows = [];
  const row = (what, vdiskValue, qemuValue, ratio, rss) => rows.push([what, vdiskValue, qemuValue, ratio, rss]);
  row(
    `convert bochs→raw (vdisk ${SIZE / MiB} MiB, qemu-img ${SMALL / MiB} MiB)`,
    `${mbs(c.convert.vdisk.MiBps)} (${ms(c.convert.vdisk.seconds)})`,
    `${mbs(c.convert.qemuImgBochs.MiBps)} (${ms(c.convert.qemuImgBochs.seconds)})`,
    `${(c.convert.vdisk.MiBps / c.convert.qemuImgBochs.MiBps).toFixed(1)}×`,
    mb(c.convert.vdisk.rssMB),
  );
  row(
    "qemu-io -r -f bochs 'read 0 128M' (prefix)",
    mbs(c.convert.vdisk.MiBps),
    mbs(c.convert.qemuIoBochsPrefix.MiBps),
    `${(c.convert.vdisk.MiBps / c.convert.qemuIoBochsPrefix.MiBps).toFixed(1)}×`,
    '',
  );
  row(
    'vdisk bochs→raw vs qemu-img raw→raw (hardware pace)',
    ms(c.convert.vdisk.seconds),
    ms(c.convert.qemuImgRaw.seconds),
    `${((100 * c.convert.vdisk.MiBps) / c.convert.qemuImgRaw.MiBps).toFixed(0)}% of raw`,
    mb(c.convert.vdisk.rssMB),
  );
  const b = c.convertToBochs;
  row(
    `convert raw→bochs (${SIZE / MiB} MiB) vs bximage -func=convert`,
    `${mbs(b.vdisk.MiBps)} (${ms(b.vdisk.seconds)})`,
    `bximage ${mbs(b.bximage.MiBps)} (${ms(b.bximage.seconds)})`,
    `${(b.vdisk.MiBps / b.bximage.MiBps).toFixed(1)}×`,
    mb(b.vdisk.rssMB),
  );
  row(
    'vdisk raw→bochs vs qemu-img raw→raw (hardware pace)',
    ms(b.vdisk.seconds),
    ms(c.convert.qemuImgRaw.seconds),
    `${((100 * b.vdisk.MiBps) / c.convert.qemuImgRaw.MiBps).toFixed(0)}% of raw`,
    mb(b.vdisk.rssMB),
  );
  startupTableRows(row);
  row(
    `probe ${c.batch.vdisk.files} files (one call) vs qemu-img info loop (per file)`,
    `${c.batch.vdisk.perFileMs.toFixed(3)} ms/file (${ms(c.batch.vdisk.seconds)})`,
    `${c.batch.qemu.perFileMs.toFixed(2)} ms/file`,
    `${(c.batch.qemu.perFileMs / c.batch.vdisk.perFileMs).toFixed(1)}×`,
    mb(c.batch.vdisk.rssMB),
  );
  const r = c.randomReads;
  for (const [name, v] of [
    ['depth 1', r.vdiskDepth1],
    ['depth 16', r.vdiskDepth16],
  ]) {
    row(
      `random 4 KiB reads, ${name} (qemu-io: one process)`,
      `${v.readsPerSecond.toFixed(0)} reads/s`,
      `${r.qemu.readsPerSecond.toFixed(0)} reads/s`,
      `${(v.readsPerSecond / r.qemu.readsPerSecond).toFixed(2)}×`,
      mb(v.rssMB),
    );
  }
  row(
    'random 4 KiB reads, node:fs alone, depth 1 / 16 (the ceiling)',
    `${r.nodeDepth1.readsPerSecond.toFixed(0)} / ${r.nodeDepth16.readsPerSecond.toFixed(0)} reads/s`,
    '',
    `${(r.nodeDepth16.readsPerSecond / r.nodeDepth1.readsPerSecond).toFixed(2)}× depth 1`,
    '',
  );
  const w = c.randomWrites;
  for (const [name, v] of [
    ['depth 1', w.vdiskDepth1],
    ['depth 16', w.vdiskDepth16],
  ]) {
    row(
      `random 4 KiB writes + one flush, ${name} (${w.image})`,
      `${v.writesPerSecond.toFixed(0)} writes/s`,
      '',
      name === 'depth 16' ? `${(v.writesPerSecond / w.vdiskDepth1.writesPerSecond).toFixed(2)}× depth 1` : '',
      mb(v.rssMB),
    );
  }
  const h = c.hugeImage;
  row('8 TiB image (1M catalog): library open', ms(h.open.openSeconds), '', '', mb(h.open.rssMB));
  row('8 TiB image: vdisk info (wall)', ms(h.info.seconds), '', '', mb(h.info.rssMB));

  for (const o of c.otherFormats ?? []) {
    row(
      `convert ${o.format}→raw (${o.bytes / MiB} MiB, qemu-img convert -f ${o.format})`,
      `${mbs(o.vdisk.MiBps)} (${ms(o.vdisk.seconds)})`,
      `${mbs(o.qemu.MiBps)} (${ms(o.qemu.seconds)})`,
      `${(o.vdisk.MiBps / o.qemu.MiBps).toFixed(2)}×`,
      mb(o.vdisk.rssMB),
    );
  }

  rows.push(...results.nbd.rows);
  printRows(rows);
}

/** The table, the machine, and each target met or missed. */
function printRows(rows) {
  const header = ['case', 'vdisk', 'qemu', 'ratio', 'vdisk peak RSS'];
  const lines = [header, header.map(() => '---'), ...rows];
  process.stdout.write(`\n${lines.map((l) => `| ${l.join(' | ')} |`).join('\n')}\n\n`);
  process.stdout.write(
    `machine: ${results.machine.cpus} × ${results.machine.cpuModel}, ${results.machine.memoryGiB} GiB, Node ${results.machine.node}, ${results.machine.qemu}\n`,
  );
  process.stdout.write(
    `date: ${results.date}; load average at start ${results.machine.loadAtStart.join(' ')}, at end ${results.machine.loadAtEnd.join(' ')}\n\n`,
  );
  for (const t of results.targets) process.stdout.write(`${t.ok ? 'MET ' : 'MISS'}  ${t.name}: ${t.measured}\n`);
}

await main();
