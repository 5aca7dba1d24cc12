// Opens IMAGE through the vdisk library and prints {"seconds"} for the open alone (header
// and catalog: 4 MiB for the largest image bximage makes), as JSON.
//   node scripts/bench/open-time.mjs IMAGE

import { defaultRegistry } from '../../packages/cli/dist/default-registry.js';
import { openFile } from '../../packages/core/dist/node/index.js';

const registry = defaultRegistry();
const start = process.hrtime.bigint();
const device = await openFile(registry, process.argv[2]);
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
await device.close();
process.stdout.write(`${JSON.stringify({ seconds, virtualSize: device.virtualSize })}\n`);
