import type { ProbeOptions } from './commands/probe.js';

export interface PlainProbe {
  files: string[];
  output: ProbeOptions['output'];
}

const OUTPUTS: readonly string[] = ['human', 'json'];

/**
 * A command line that is `vdisk probe FILE...` with at most `--output human|json` (or
 * `--output=...`), anywhere after `probe` as commander takes it, the last one winning: the
 * one bin runs without commander (fast-probe.ts). Anything else (another option, `--`,
 * `-`, a file whose name starts with `-`, a missing or unknown output format, no file)
 * is undefined and goes to commander, whose every rule and message then applies.
 */
export function plainProbe(args: readonly string[]): PlainProbe | undefined {
  if (args[0] !== 'probe') return undefined;
  const files: string[] = [];
  let output: string = 'human';
  for (let i = 1; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--output') {
      output = args[++i] ?? '';
      if (!OUTPUTS.includes(output)) return undefined;
    } else if (arg.startsWith('--output=')) {
      output = arg.slice('--output='.length);
      if (!OUTPUTS.includes(output)) return undefined;
    } else if (arg.startsWith('-')) {
      return undefined;
    } else {
      files.push(arg);
    }
  }
  return files.length > 0 ? { files, output: output as PlainProbe['output'] } : undefined;
}
