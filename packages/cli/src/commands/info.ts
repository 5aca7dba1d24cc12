import { type AllocatedSizeSource, backingChain, throwIfAborted } from '@vdisk/core';
import { openFile } from '@vdisk/core/node';
import { defaultRegistry } from '../default-registry.js';
import { humanSize } from '../human-size.js';
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
    const lines = [
      `image: ${filename}`,
      `file format: ${device.format}`,
      `virtual size: ${humanSize(device.virtualSize)} (${device.virtualSize} bytes)`,
      `disk size: ${humanSize(actualSize)}`,
    ];
    if (backing) {
      // qemu-img's bdrv_image_info_dump: the name as the image gives it, and the path opened when it differs.
      const actual = backing.fullFilename === backing.filename ? '' : ` (actual path: ${backing.fullFilename})`;
      lines.push(`backing file: ${backing.filename}${actual}`, `backing file format: ${backing.device.format}`);
    }
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
