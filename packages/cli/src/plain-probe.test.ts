import { describe, expect, it } from 'vitest';
import { plainProbe } from './plain-probe.js';

describe('plainProbe', () => {
  it('takes probe with files, and --output as commander reads it', () => {
    expect(plainProbe(['probe', 'a.img'])).toEqual({ files: ['a.img'], output: 'human' });
    expect(plainProbe(['probe', 'a.img', 'b b.img', 'help'])).toEqual({
      files: ['a.img', 'b b.img', 'help'],
      output: 'human',
    });
    expect(plainProbe(['probe', '--output=json', 'a.img'])).toEqual({ files: ['a.img'], output: 'json' });
    expect(plainProbe(['probe', 'a.img', '--output', 'json', 'b.img'])).toEqual({
      files: ['a.img', 'b.img'],
      output: 'json',
    });
    // The last one wins, as with commander.
    expect(plainProbe(['probe', '--output=json', 'a.img', '--output=human'])).toEqual({
      files: ['a.img'],
      output: 'human',
    });
  });

  it('leaves every other option, and anything unusual, to commander', () => {
    for (const args of [
      [],
      ['probe'],
      ['probe', '--output=json'],
      ['info', 'a.img'],
      ['probe', '--output=xml', 'a.img'],
      ['probe', '--output', 'a.img'],
      ['probe', 'a.img', '--output'],
      ['probe', '--output', '--output=json', 'a.img'],
      ['probe', '--output='],
      ['probe', '--outpu=json', 'a.img'],
      ['probe', 'a.img', '--debug'],
      ['--plugin', 'p.mjs', 'probe', 'a.img'],
      ['--output=json', 'probe', 'a.img'],
      ['probe', '--', 'a.img'],
      ['probe', '-'],
      ['probe', '-h'],
      ['probe', '--help', 'a.img'],
      ['--version'],
    ]) {
      expect(plainProbe(args), args.join(' ')).toBeUndefined();
    }
  });
});
