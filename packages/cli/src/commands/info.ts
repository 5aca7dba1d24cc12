import { type AllocatedSizeSource, backingChain, throwIfAborted } from '@vdisk/core';
import { openFile } from '@vdisk/core/node';
import { infoLines } from '@vdisk/view';
import { defaultRegistry } from '../default-registry.js';
import { printWarning } from '../warnings.js';

export interface InfoOptions {
  format?: string;
  options?: Record<string, string>;
  output: 'human' | 'json';
  signal?: AbortSignal;
}

/** `vdisk info FILE`, after `qemu-img info`. */
export async function infoCommand(filename: string, opts: InfoOptions): Promise<number> {
  const device = await openFile(defaultRegistry(), filename, {
    format: opts.format,
    options: opts.options,
    onWarning: printWarning,
  });
  try {
    throwIfAborted(opts.signal);
    const actualSize = await (device.source as AllocatedSizeSource).allocatedSize();
    const specific = device.info();
    const [backing] = backingChain(device);
    if (opts.output === 'json') {
      const json: Record<string, unknown> = {
        filename,
        format: device.format,
        'virtual-size': device.virtualSize,
        'actual-size': actualSize,
      };
      if (backing) {
        json['backing-filename'] = backing.filename;
        json['full-backing-filename'] = backing.fullFilename;
        json['backing-filename-format'] = backing.device.format;
      }
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
      backing: backing && {
        filename: backing.filename,
        fullFilename: backing.fullFilename,
        format: backing.device.format,
      },
    });
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  } finally {
    await device.close();
  }
}
