import { dieBy } from './signals.js';

/** A file name's escaped non-UTF-8 byte (core's decodeFileName). */
const ESCAPED_BYTE = /[\uDC80-\uDCFF]/;

/**
 * What vdisk does when standard output fails. A reader that stops early (`vdisk map IMG |
 * head -1`) closes the pipe: vdisk ends quietly by SIGPIPE, as qemu-img does there (Node
 * ignores SIGPIPE and would print a stack trace). Any other failure (`> /dev/full`) is one
 * line, `vdisk: write error: No space left on device`, and exit 1. Standard error failing
 * has nowhere to be reported and is ignored.
 */
export function watchStandardOutput(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') dieBy('SIGPIPE');
    void import('@vdisk/core/node').then(
      ({ toSystemError }) => exitWithWriteError(toSystemError(error).message),
      () => exitWithWriteError(error.message),
    );
  });
  process.stderr.on('error', () => {});
}

/**
 * Writes text that holds a file name's escaped non-UTF-8 bytes as those bytes, as qemu-img
 * prints the name it was given (UTF-8 output would turn each into U+FFFD). Installed, for
 * every command's output at once, only when an argument carried such bytes: `encode` is
 * core's encodeFileName, loaded then.
 */
export function writeEscapedBytes(encode: (text: string) => Uint8Array): void {
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) =>
      write(
        typeof chunk === 'string' && ESCAPED_BYTE.test(chunk) ? encode(chunk) : chunk,
        ...rest,
      )) as typeof stream.write;
  }
}

function exitWithWriteError(message: string): never {
  process.stderr.write(`vdisk: write error: ${message}\n`);
  process.exit(1);
}

/**
 * Writes to stdout and waits for it to drain when its buffer is full, so a command that
 * prints a long listing (`map` of a fragmented 8 TB disk) holds no more than the pipe's
 * buffer in memory however slow the reader.
 */
export async function writeStdout(text: string): Promise<void> {
  if (process.stdout.write(text)) return;
  await new Promise<void>((resolve, reject) => {
    const onDrain = () => {
      process.stdout.off('error', onError);
      resolve();
    };
    const onError = (error: Error) => {
      process.stdout.off('drain', onDrain);
      reject(error);
    };
    process.stdout.once('drain', onDrain);
    process.stdout.once('error', onError);
  });
}
