import { openFile } from '@vdisk/core/node';
import { defaultRegistry } from '../default-registry.js';
import { runIoScript } from '../qemu-io/io-session.js';
import { writeStdout } from '../stdout.js';

export interface IoOptions {
  format?: string;
  options?: Record<string, string>;
  readOnly: boolean;
  quiet: boolean;
  cmd: string[];
  signal?: AbortSignal;
}

/**
 * `vdisk io -c CMD ... FILE`: qemu-io's commands on an image, in order. Each write is
 * reported when it is done (written through the driver, which for Bochs means its catalog
 * entry is written too), not when it is durable: `flush` is the durability point. qemu-io
 * opens images writethrough by default (every write flushed); vdisk does not, so that a
 * script of many writes costs one flush, where the script asks for it.
 */
export async function ioCommand(filename: string, opts: IoOptions): Promise<number> {
  const device = await openFile(defaultRegistry(), filename, {
    format: opts.format,
    options: opts.options,
    writable: !opts.readOnly,
  });
  try {
    if (device.probeGuessed && !opts.readOnly) {
      // QEMU's warning, as qemu-img and qemu-io print it when they open a guessed raw image for writing.
      process.stderr.write(
        `WARNING: Image format was not specified for '${filename}' and probing guessed raw.\n` +
          '         Automatically detecting the format is dangerous for raw images, write operations on block 0 will be restricted.\n' +
          "         Specify the 'raw' format explicitly to remove the restrictions.\n",
      );
    }
    const { failed } = await runIoScript(
      {
        device,
        quiet: opts.quiet,
        filename,
        stdout: writeStdout,
        stderr: (text) => {
          process.stderr.write(text);
        },
        now: () => process.hrtime.bigint(),
        signal: opts.signal,
      },
      opts.cmd,
    );
    return failed ? 1 : 0;
  } finally {
    // Waits for requests in flight; a write the script reported is already in the file.
    await device.close();
  }
}
