import { type AllocatedSizeSource, throwIfAborted } from '@vdisk/core';
import { openFile } from '@vdisk/core/node';
import { infoLines } from '@vdisk/view';
import { defaultRegistry } from '../default-registry.js';

export interface InfoOptions {
  format?: string;
  options?: Record<string, string>;
  output: 'human' | 'json';
  signal?: AbortSignal;
}

/** `vdisk info FILE`, after `qemu-img info`. */
export async function infoCommand(filename: string, opts: InfoOptions): Promise<number> {
  const device = await openFile(defaultRegistry(), filename, { format: opts.format, options: opts.options });
  try {
    throwIfAborted(opts.signal);
    const actualSize = await (device.source as AllocatedSizeSource).allocatedSize();
    const specific = device.info();
    if (opts.output === 'json') {
      const json: Record<string, unknown> = {
        filename,
        format: device.format,
        'virtual-size': device.virtualSize,
        'actual-size': actualSize,
      };
      if (specific) json['format-specific'] = specific;
      process.stdout.write(`${JSON.stringify(json, null, 4)}\n`);
      return 0;
    }
    // The lines come from @vdisk/view, which the web page prints them with too.
    const lines = infoLines({
      filename,
      format: device.format,
      virtualSize: device.virtualSize,
      actualSize,
      specific,
    });
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  } finally {
    await device.close();
  }
}
