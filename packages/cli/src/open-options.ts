import { InvalidArgumentError } from '@vdisk/core';

/**
 * Parses `-o key=value[,key=value]` into driver options; repeated `-o` accumulate. The
 * object has no prototype, and keys are defined, not assigned: `-o __proto__=1` is a key
 * like any other, which the driver then refuses as unknown.
 */
export function parseOpenOptions(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const options: Record<string, string> = Object.create(null);
  const set = (key: string, text: string) =>
    Object.defineProperty(options, key, { value: text, enumerable: true, writable: true, configurable: true });
  for (const [key, text] of Object.entries(previous)) set(key, text);
  for (const pair of value.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`Invalid option '${pair}': expected key=value`);
    set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return options;
}
