import type { ProbeResult } from '@vdisk/core';
import { probeFile } from '@vdisk/core/node';
import { defaultRegistry } from '../default-registry.js';
import { reportError } from '../error-line.js';

export interface ProbeOptions {
  output: 'human' | 'json';
}

/**
 * Files probed at once. Each probe is four round trips to libuv's thread pool (open, fstat,
 * read, close) that do little work: overlapping a few keeps its four threads busy. The
 * window bounds the descriptors open at once.
 */
const IN_FLIGHT = 16;

/** `vdisk probe FILE...`: each file's detected format and every driver's score, in argument order. */
export async function probeCommand(files: string[], { output }: ProbeOptions): Promise<number> {
  const registry = defaultRegistry();
  type Outcome = { result: ProbeResult } | { error: unknown };
  const queue: Promise<Outcome>[] = [];
  let started = 0;
  const fill = () => {
    for (; started < files.length && queue.length < IN_FLIGHT; started++) {
      queue.push(
        probeFile(registry, files[started] as string).then(
          (result) => ({ result }),
          (error) => ({ error }),
        ),
      );
    }
  };
  fill();
  let exitCode = 0;
  for (const filename of files) {
    const outcome = (await queue.shift()) as Outcome;
    fill();
    if ('error' in outcome) {
      reportError(outcome.error, filename);
      exitCode = 1;
    } else if (output === 'json') {
      process.stdout.write(`${JSON.stringify({ filename, ...outcome.result })}\n`);
    } else {
      const { format, score, guessed } = outcome.result;
      const guess = guessed ? ', guessed: no other format matched' : '';
      process.stdout.write(`${filename}: ${format} (score ${score}${guess})\n`);
    }
  }
  return exitCode;
}
