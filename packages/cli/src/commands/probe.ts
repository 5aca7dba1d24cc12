import { hasErrorCode, type ProbeResult, type SystemError, throwIfAborted } from '@vdisk/core';
import { probeFile } from '@vdisk/core/node';
import { defaultRegistry } from '../default-registry.js';
import { reportError } from '../error-line.js';

export interface ProbeOptions {
  output: 'human' | 'json';
  signal?: AbortSignal;
}

/**
 * Files probed at once. Each probe is four round trips to libuv's thread pool (open, fstat,
 * read, close) that do little work: overlapping a few keeps its four threads busy. The
 * window bounds the descriptors open at once, and shrinks when the process runs out of
 * them (`ulimit -n 24`): a probe refused with EMFILE waits for another to finish and tries
 * again, so only a file that cannot be opened alone fails.
 */
const IN_FLIGHT = 16;

type Outcome = { result: ProbeResult } | { error: unknown };

const outOfDescriptors = (error: unknown) =>
  hasErrorCode(error, 'EIO') && ['EMFILE', 'ENFILE'].includes((error as SystemError).syscallCode ?? '');

/** `vdisk probe FILE...`: each file's detected format and every driver's score, in argument order. */
export async function probeCommand(files: string[], { output, signal }: ProbeOptions): Promise<number> {
  const registry = defaultRegistry();
  let limit = IN_FLIGHT;
  let inFlight = 0;
  let waiting: Array<() => void> = [];
  const settled = () => {
    const wake = waiting;
    waiting = [];
    for (const resolve of wake) resolve();
  };
  const probeOne = async (filename: string): Promise<Outcome> => {
    for (;;) {
      inFlight++;
      let retry = false;
      try {
        return { result: await probeFile(registry, filename) };
      } catch (error) {
        if (!outOfDescriptors(error) || inFlight === 1) return { error };
        limit = Math.max(1, inFlight - 1);
        retry = true;
      } finally {
        inFlight--;
        settled();
      }
      // Another probe holds descriptors: try again once one has let go of them.
      if (retry && inFlight > 0) await new Promise<void>((resolve) => waiting.push(resolve));
    }
  };

  const queue: Promise<Outcome>[] = [];
  let started = 0;
  const fill = () => {
    for (; started < files.length && queue.length < limit; started++) queue.push(probeOne(files[started] as string));
  };
  fill();
  let exitCode = 0;
  for (const filename of files) {
    throwIfAborted(signal);
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
