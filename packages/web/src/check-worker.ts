/**
 * `check` off the page's thread. A driver's check is one synchronous pass over its
 * catalog, and a hostile catalog of a million entries keeps a thread for most of a second:
 * here it keeps this worker's, and the page stays responsive. The worker opens the same
 * File (a File crosses to a worker without copying its bytes) with the same registry.
 */
import { BlobSource } from '@vdisk/core';
import { browserRegistry } from './browser-registry.js';
import { checkText } from './check-text.js';
import { errorText } from './error-text.js';

export interface CheckRequest {
  file: File;
  format: string;
}

export type CheckReply = { text: string } | { error: string };

const reply = (message: CheckReply) => postMessage(message);

addEventListener('message', async (event: MessageEvent<CheckRequest>) => {
  const { file, format } = event.data;
  try {
    const device = await browserRegistry().open(new BlobSource(file), { format, filename: file.name });
    try {
      reply({ text: checkText(await device.check()).trimEnd() });
    } finally {
      await device.close();
    }
  } catch (error) {
    reply({ error: errorText(file.name, error) });
  }
});
