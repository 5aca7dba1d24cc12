import { InvalidArgumentError } from '@vdisk/core';

/** Parses `-o key=value[,key=value]` into driver options; repeated `-o` accumulate. */
export function parseOpenOptions(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const options = { ...previous };
  for (const pair of value.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`Invalid option '${pair}': expected key=value`);
    options[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return options;
}
