import { describe, expect, it } from 'vitest';
import { isPlainProbe } from './plain-probe.js';

describe('isPlainProbe', () => {
  it('takes probe with files and nothing else', () => {
    expect(isPlainProbe(['probe', 'a.img'])).toBe(true);
    expect(isPlainProbe(['probe', 'a.img', 'b b.img', 'help'])).toBe(true);
  });

  it('leaves every option, and anything else, to commander', () => {
    for (const args of [
      [],
      ['probe'],
      ['info', 'a.img'],
      ['probe', '--output=json', 'a.img'],
      ['probe', 'a.img', '--debug'],
      ['--plugin', 'p.mjs', 'probe', 'a.img'],
      ['probe', '--', 'a.img'],
      ['probe', '-'],
      ['probe', '-h'],
      ['--version'],
    ]) {
      expect(isPlainProbe(args), args.join(' ')).toBe(false);
    }
  });
});
