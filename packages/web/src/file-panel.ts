import {
  BlobSource,
  type BlockDevice,
  type BlockStatusRun,
  dataRanges,
  isVdiskError,
  type ProbeResult,
  type Registry,
} from '@vdisk/core';
import { humanSize, infoLines, MAP_COLOURS, MAP_KIND_LABELS, MAP_KINDS } from '@vdisk/view';
import { checkText } from './check-text.js';
import { withBreaks } from './event-loop.js';
import { HexView } from './hex-view.js';
import { MapCanvas } from './map-canvas.js';
import { MapTable } from './map-table.js';
import { MapWalk } from './map-walk.js';
import { exportRaw, type RawSink } from './raw-export.js';
import { canPickSaveFile, downloadSink, pickSaveFile } from './save-target.js';

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  properties: Partial<HTMLElementTagNameMap[K]> = {},
  ...children: Array<Node | string>
): HTMLElementTagNameMap[K] {
  const node = Object.assign(document.createElement(tag), properties);
  node.append(...children);
  return node;
}

function section(title: string, className: string): HTMLElement {
  const node = element('section', { className });
  node.append(element('h3', { textContent: title }));
  return node;
}

/** An error as the CLI prints it: `FILE: MESSAGE`, the message alone for a VdiskError. */
function errorText(filename: string, error: unknown): string {
  const message = isVdiskError(error) || error instanceof Error ? error.message : String(error);
  return `${filename}: ${message}`;
}

/** The name a raw copy of `filename` is offered under. */
export function rawName(filename: string): string {
  return `${filename.replace(/\.(img|bochs|raw|bin|vhd|vdi|vmdk|qcow2?)$/i, '')}.raw`;
}

/**
 * Everything the page shows of one file: the probe, info, check, the map (picture and
 * table), the hex views and the conversion. The file is read through a BlobSource, a
 * slice at a time: nothing of it is loaded whole and nothing leaves the browser.
 */
export class FilePanel {
  readonly element: HTMLElement;
  readonly file: File;
  readonly #registry: Registry;
  #device: BlockDevice | undefined;
  #walk: AbortController | undefined;

  constructor(registry: Registry, file: File, id: string) {
    this.#registry = registry;
    this.file = file;
    this.element = element('article', { className: 'file-panel', id });
    this.element.append(element('h2', { textContent: `${file.name} (${humanSize(file.size)}, ${file.size} bytes)` }));
  }

  async load(): Promise<void> {
    const started = performance.now();
    const file = this.file;
    const probeSection = section('Format', 'probe');
    this.element.append(probeSection);
    let probe: ProbeResult;
    try {
      probe = await this.#registry.probe(new BlobSource(file), file.name);
    } catch (error) {
      probeSection.append(
        element('p', { className: 'error', role: 'alert', textContent: errorText(file.name, error) }),
      );
      this.#showFileBytes();
      return;
    }
    probeSection.append(this.#probeTable(probe));

    let device: BlockDevice;
    try {
      device = await this.#registry.open(new BlobSource(file), { format: probe.format, filename: file.name });
    } catch (error) {
      probeSection.append(
        element('p', {
          className: 'error',
          role: 'alert',
          textContent: `${errorText(file.name, error)}. It is not an image vdisk can open as ${probe.format}.`,
        }),
      );
      this.#showFileBytes();
      return;
    }
    this.#device = device;

    const info = section('Info', 'info');
    info.append(
      element('pre', {
        textContent: infoLines({
          filename: file.name,
          format: device.format,
          virtualSize: device.virtualSize,
          specific: device.info(),
        }).join('\n'),
      }),
      element('p', {
        className: 'note',
        textContent: 'A browser tells a file’s length, not the space it takes on disk: hence “unavailable”.',
      }),
    );
    this.element.append(info);
    this.element.dataset.openedMs = String(Math.round(performance.now() - started));

    const check = section('Check', 'check');
    this.element.append(check);
    void this.#check(device, check);

    const hexDisk = new HexView({
      title: 'Virtual disk',
      name: 'disk',
      size: device.virtualSize,
      read: (offset, length) => device.read(offset, length),
      nextData: async (from, signal) => {
        for await (const range of withBreaks(dataRanges(device, { offset: from, signal }))) return range.offset;
        return undefined;
      },
    });
    const hexFile = this.#fileHex();
    const pick = (run: BlockStatusRun, offset = run.offset) => {
      void hexDisk.goTo(offset);
      if (run.fileOffset !== undefined) void hexFile.goTo(run.fileOffset + (offset - run.offset));
    };

    const walk = new MapWalk(device);
    const map = section('Allocation map', 'map');
    const picture = new MapCanvas(walk, pick);
    const table = new MapTable(walk, (run) => pick(run));
    const progress = element('p', { className: 'map-progress', textContent: 'Walking the map…' });
    map.append(this.#legend(), picture.element, progress, element('h4', { textContent: 'Runs' }), table.element);
    this.element.append(map);

    const bytes = section('Bytes', 'bytes');
    bytes.append(
      element('p', {
        className: 'note',
        textContent:
          'The virtual disk as the guest sees it, and the file’s own bytes (header, catalog, extents). ' +
          'Picking a data run in the map shows it in both.',
      }),
      element('div', { className: 'hex-pair' }, hexDisk.element, hexFile.element),
    );
    this.element.append(bytes);
    this.element.append(this.#convertSection(device));

    const controller = new AbortController();
    this.#walk = controller;
    const update = () => {
      picture.draw();
      table.update();
      const { covered } = walk.cells;
      progress.textContent = walk.done
        ? `${walk.runCount} ${walk.runCount === 1 ? 'run' : 'runs'}; one cell = ${humanSize(walk.cells.cellSize)}.`
        : `Walking the map: ${humanSize(covered)} of ${humanSize(device.virtualSize)}, ${walk.runCount} runs so far…`;
    };
    try {
      await walk.walk({ signal: controller.signal, onRuns: update });
      this.element.dataset.mappedMs = String(Math.round(performance.now() - started));
      this.element.dataset.mapped = 'true';
    } catch (error) {
      if (!controller.signal.aborted) progress.textContent = errorText(file.name, error);
    }
  }

  /** Stops what is under way and closes the image. */
  async close(): Promise<void> {
    this.#walk?.abort();
    await this.#device?.close();
  }

  #probeTable(probe: ProbeResult): HTMLElement {
    const box = element('div');
    const table = element('table', { className: 'scores' });
    table.append(element('caption', { textContent: 'Every format’s score for the first sector (0 to 100)' }));
    const head = element('tr');
    head.append(
      element('th', { scope: 'col', textContent: 'Format' }),
      element('th', { scope: 'col', textContent: 'Score' }),
    );
    table.append(element('thead', {}, head));
    const body = element('tbody');
    for (const [name, score] of Object.entries(probe.scores)) {
      const row = element('tr', { className: name === probe.format ? 'winner' : '' });
      row.dataset.format = name;
      row.append(element('th', { scope: 'row', textContent: name }), element('td', { textContent: String(score) }));
      body.append(row);
    }
    table.append(body);
    const result = element('p', {
      className: 'probe-result',
      textContent: `${this.file.name}: ${probe.format} (score ${probe.score}${probe.guessed ? ', guessed: no other format matched' : ''})`,
    });
    box.append(result, table);
    if (probe.guessed) {
      box.append(
        element('p', {
          className: 'warning',
          role: 'alert',
          textContent:
            'Not an image format vdisk knows: no format recognised this file, so it is shown as raw, a guess. ' +
            'If the file came from someone you do not trust, treat it as unknown: a guest that owns a raw disk ' +
            'can write another format’s header into it (CVE-2008-2004).',
        }),
      );
    }
    return box;
  }

  async #check(device: BlockDevice, into: HTMLElement): Promise<void> {
    if (!device.canCheck) {
      into.append(element('pre', { textContent: `This image format (${device.format}) does not support checks` }));
      return;
    }
    const out = element('pre', { textContent: 'Checking…' });
    into.append(out);
    try {
      out.textContent = checkText(await device.check()).trimEnd();
    } catch (error) {
      out.textContent = errorText(this.file.name, error);
    }
  }

  #legend(): HTMLElement {
    const list = element('ul', { className: 'legend' });
    for (const kind of MAP_KINDS) {
      const swatch = element('span', { className: 'swatch' });
      swatch.style.background = MAP_COLOURS[kind].whole;
      const part = element('span', { className: 'swatch' });
      part.style.background = MAP_COLOURS[kind].part;
      list.append(element('li', {}, swatch, part, ` ${MAP_KIND_LABELS[kind]}`));
    }
    list.append(element('li', { className: 'note', textContent: 'Dark: the whole cell; light: part of it.' }));
    return list;
  }

  #fileHex(): HexView {
    const file = this.file;
    return new HexView({
      title: 'File',
      name: 'file',
      size: file.size,
      read: async (offset, length) => new Uint8Array(await file.slice(offset, offset + length).arrayBuffer()),
    });
  }

  #showFileBytes(): void {
    const bytes = section('Bytes', 'bytes');
    bytes.append(this.#fileHex().element);
    this.element.append(bytes);
  }

  #convertSection(device: BlockDevice): HTMLElement {
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
      const name = rawName(this.file.name);
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
}
