import { SingleBar } from 'cli-progress';
import { humanSize } from './human-size.js';

export interface Progress {
  update(bytesDone: number): void;
  stop(): void;
}

/**
 * A progress bar on stderr with bytes, rate and ETA. It is shown only on a terminal: a
 * script's log is no place for a redrawn bar (qemu-img -p prints it regardless).
 */
export function startProgress(total: number): Progress | undefined {
  if (!process.stderr.isTTY) return undefined;
  const started = Date.now();
  const bar = new SingleBar({
    format: '{bar} {percentage}% | {done} of {size} | {rate}/s | ETA {eta_formatted}',
    stream: process.stderr,
    hideCursor: true,
    etaBuffer: 50,
  });
  const payload = (done: number) => {
    const seconds = Math.max((Date.now() - started) / 1000, 0.001);
    return { done: humanSize(done), size: humanSize(total), rate: humanSize(done / seconds) };
  };
  bar.start(Math.max(total, 1), 0, payload(0));
  return {
    update: (done) => bar.update(done, payload(done)),
    stop: () => bar.stop(),
  };
}
