import type { BlockDevice } from '@vdisk/core';
import { humanSize } from '@vdisk/view';
import { element, section } from './element.js';
import { errorText } from './error-text.js';
import { exportRaw, type RawSink } from './raw-export.js';
import { canPickSaveFile, downloadSink, pickSaveFile } from './save-target.js';

/**
 * Convert to raw: a button that streams the disk into a file the user picks (File System
 * Access API) or into a download, with progress and a cancel button.
 */
export function convertSection(device: BlockDevice, name: string): HTMLElement {
  const convert = section('Convert to raw', 'convert');
  const start = element('button', {
    type: 'button',
    className: 'convert-start',
    textContent: 'Convert to raw and save…',
  });
  const cancel = element('button', {
    type: 'button',
    className: 'convert-cancel',
    textContent: 'Cancel',
    disabled: true,
  });
  const bar = element('progress', { max: 1, value: 0 });
  bar.setAttribute('aria-label', 'Conversion progress');
  const status = element('p', { className: 'convert-status' });
  status.setAttribute('aria-live', 'polite');
  const how = canPickSaveFile()
    ? 'You pick where to save; only the data is written, so the file is sparse where your file system allows.'
    : 'The raw file is downloaded; holes are not read, but a download has no holes: they arrive as zeros.';
  convert.append(element('p', { className: 'note', textContent: how }), start, cancel, bar, status);

  start.addEventListener('click', async () => {
    let sink: RawSink | undefined;
    try {
      sink = canPickSaveFile() ? await pickSaveFile(name) : downloadSink(name);
    } catch (error) {
      status.textContent = errorText(name, error);
      return;
    }
    if (!sink) return;
    const controller = new AbortController();
    start.disabled = true;
    cancel.disabled = false;
    const onCancel = () => controller.abort();
    cancel.addEventListener('click', onCancel);
    convert.dataset.state = 'running';
    const began = performance.now();
    try {
      await exportRaw(device, sink, {
        signal: controller.signal,
        onProgress: (done, total) => {
          bar.value = total === 0 ? 1 : done / total;
          status.textContent = `${humanSize(done)} of ${humanSize(total)}`;
        },
      });
      bar.value = 1;
      status.textContent = `Saved ${name}: ${device.virtualSize} bytes in ${((performance.now() - began) / 1000).toFixed(1)} s.`;
      convert.dataset.state = 'done';
    } catch (error) {
      status.textContent = controller.signal.aborted
        ? 'Cancelled: the partial copy was thrown away.'
        : errorText(name, error);
      convert.dataset.state = controller.signal.aborted ? 'cancelled' : 'failed';
    } finally {
      start.disabled = false;
      cancel.disabled = true;
      cancel.removeEventListener('click', onCancel);
    }
  });
  return convert;
}
