import { BlobSource, type BlockDevice, type BlockStatusRun, type ProbeResult, type Registry } from '@vdisk/core';
import { humanSize, infoLines, MAP_COLOURS, MAP_KIND_LABELS, MAP_KINDS } from '@vdisk/view';
import type { CheckReply, CheckRequest } from './check-worker.js';
import { convertSection } from './convert-section.js';
import { element, section } from './element.js';
import { errorText } from './error-text.js';
import { HexView } from './hex-view.js';
import { MapCanvas } from './map-canvas.js';
import { mapRuns } from './map-runs.js';
import { MapTable } from './map-table.js';
import { MapWalk } from './map-walk.js';

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
        for await (const run of mapRuns(device, { offset: from, signal })) {
          if (run.data) return Math.max(run.offset, from);
        }
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
    this.element.append(convertSection(device, rawName(file.name)));

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
    const worker = new Worker(new URL('./check-worker.ts', import.meta.url), { type: 'module' });
    const reply = await new Promise<CheckReply>((resolve) => {
      worker.addEventListener('message', (event: MessageEvent<CheckReply>) => resolve(event.data));
      worker.addEventListener('error', (event) => resolve({ error: `${this.file.name}: ${event.message}` }));
      worker.postMessage({ file: this.file, format: device.format } satisfies CheckRequest);
    });
    worker.terminate();
    out.textContent = 'text' in reply ? reply.text : reply.error;
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
}
