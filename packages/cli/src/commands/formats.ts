import { driverCapabilities } from '@vdisk/core';
import { defaultRegistry } from '../default-registry.js';

const CAPABILITY_NAMES = {
  blockStatus: 'map',
  info: 'info',
  check: 'check',
  write: 'write',
  flush: 'flush',
  zero: 'zero',
  discard: 'discard',
  create: 'create',
} as const;

/** `vdisk formats`: the registered drivers and their optional capabilities. */
export async function formatsCommand({ output }: { output: 'human' | 'json' }): Promise<number> {
  const drivers = defaultRegistry().drivers.map((driver) => ({
    name: driver.name,
    description: driver.description ?? '',
    capabilities: ['probe', 'read', ...driverCapabilities(driver).map((c) => CAPABILITY_NAMES[c])],
  }));
  if (output === 'json') {
    process.stdout.write(`${JSON.stringify(drivers, null, 4)}\n`);
    return 0;
  }
  const width = Math.max(...drivers.map((d) => d.name.length));
  for (const d of drivers) {
    process.stdout.write(
      `${d.name.padEnd(width)}  ${d.description}\n${' '.repeat(width)}  capabilities: ${d.capabilities.join(', ')}\n`,
    );
  }
  return 0;
}
