import { type AllocatedSizeSource, throwIfAborted } from '@vdisk/core';
import { openFile } from '@vdisk/core/node';
import { defaultRegistry } from '../default-registry.js';
import { humanSize } from '../human-size.js';

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
    const lines = [
      `image: ${filename}`,
      `file format: ${device.format}`,
      `virtual size: ${humanSize(device.virtualSize)} (${device.virtualSize} bytes)`,
      `disk size: ${humanSize(actualSize)}`,
    ];
    if (specific) {
      lines.push('Format specific information:');
      for (const [key, value] of Object.entries(specific.data)) lines.push(`    ${key.replaceAll('-', ' ')}: ${value}`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  } finally {
    await device.close();
  }
}
