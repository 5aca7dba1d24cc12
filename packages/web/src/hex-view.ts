import { hexRow, offsetDigits, parseOffset, ROW_BYTES } from './hex-rows.js';
import { VirtualRows } from './virtual-rows.js';

export interface HexViewOptions {
  /** Which bytes these are, e.g. "Virtual disk". */
  title: string;
  /** `data-view` of the element, for the page's tests and styles. */
  name: string;
  size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Where the next data at or after `offset` starts, for the "Next data" button. */
  nextData?(offset: number, signal: AbortSignal): Promise<number | undefined>;
}

const LINES = 16;

/** A hex dump of any offset of some bytes, reading only the rows in view. */
export class HexView {
  readonly element: HTMLElement;
  readonly rows: VirtualRows;
  readonly #options: HexViewOptions;
  readonly #status: HTMLElement;
  readonly #input: HTMLInputElement;

  constructor(options: HexViewOptions) {
    this.#options = options;
    const digits = offsetDigits(options.size);
    this.element = document.createElement('section');
    this.element.className = 'hex';
    this.element.dataset.view = options.name;
    const id = `hex-${options.name}-${Math.random().toString(36).slice(2, 8)}`;

    const heading = document.createElement('h3');
    heading.textContent = `${options.title} (${options.size} bytes)`;

    const form = document.createElement('form');
    form.className = 'hex-controls';
    const label = document.createElement('label');
    label.htmlFor = `${id}-offset`;
    label.textContent = 'Offset';
    this.#input = document.createElement('input');
    this.#input.id = `${id}-offset`;
    this.#input.name = 'offset';
    this.#input.placeholder = '0x1000, 4096 or 1M';
    this.#input.autocomplete = 'off';
    const go = document.createElement('button');
    go.type = 'submit';
    go.textContent = 'Go';
    form.append(label, this.#input, go);
    if (options.nextData) {
      const next = document.createElement('button');
      next.type = 'button';
      next.className = 'next-data';
      next.textContent = 'Next data';
      next.addEventListener('click', () => void this.#nextData());
      form.append(next);
    }
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const offset = parseOffset(this.#input.value);
      if (offset === undefined || offset >= options.size) {
        this.#say(`Not an offset of these ${options.size} bytes: ${this.#input.value}`);
        return;
      }
      this.goTo(offset);
    });

    this.#status = document.createElement('p');
    this.#status.className = 'hex-status';
    this.#status.setAttribute('aria-live', 'polite');

    this.rows = new VirtualRows({
      lines: LINES,
      label: `${options.title}, hex`,
      render: async (first, count) => {
        const start = first * ROW_BYTES;
        const length = Math.min(count * ROW_BYTES, options.size - start);
        const bytes = await options.read(start, length);
        const rows: HTMLElement[] = [];
        for (let i = 0; i < count; i++) {
          const row = document.createElement('div');
          row.className = 'row';
          row.dataset.offset = String(start + i * ROW_BYTES);
          row.textContent = hexRow(start + i * ROW_BYTES, bytes.subarray(i * ROW_BYTES, (i + 1) * ROW_BYTES), digits);
          rows.push(row);
        }
        return rows;
      },
    });
    this.element.append(heading, form, this.#status, this.rows.element);
    this.rows.setCount(Math.ceil(options.size / ROW_BYTES));
  }

  /** Shows the row holding `offset` at the top. */
  goTo(offset: number): Promise<void> {
    this.rows.scrollToRow(Math.floor(offset / ROW_BYTES));
    this.#say(`At offset ${offset} (0x${offset.toString(16)})`);
    return this.rows.rendered;
  }

  #say(text: string): void {
    this.#status.textContent = text;
  }

  async #nextData(): Promise<void> {
    const from = (this.rows.first + 1) * ROW_BYTES;
    this.#say('Looking for the next data…');
    const found =
      from < this.#options.size ? await this.#options.nextData?.(from, new AbortController().signal) : undefined;
    if (found === undefined) this.#say('No data after this row');
    else await this.goTo(found);
  }
}
