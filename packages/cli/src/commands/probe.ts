import { probeFile } from '@vdisk/core/node';
import { defaultRegistry } from '../default-registry.js';
import { reportError } from '../error-line.js';

export interface ProbeOptions {
  output: 'human' | 'json';
}

/** `vdisk probe FILE...`: each file's detected format and every driver's score. */
export async function probeCommand(files: string[], { output }: ProbeOptions): Promise<number> {
  const registry = defaultRegistry();
  let exitCode = 0;
  for (const filename of files) {
    try {
      const result = await probeFile(registry, filename);
      if (output === 'json') {
        process.stdout.write(`${JSON.stringify({ filename, ...result })}\n`);
      } else {
        const guess = result.guessed ? ', guessed: no other format matched' : '';
        process.stdout.write(`${filename}: ${result.format} (score ${result.score}${guess})\n`);
      }
    } catch (error) {
      reportError(error, filename);
      exitCode = 1;
    }
  }
  return exitCode;
}
