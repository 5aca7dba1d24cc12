/**
 * A scrolling list that renders only the rows in view, for lists far too long for the
 * DOM: a 1 TiB disk is 2^36 hex rows. The scrollbar's travel is capped (browsers stop
 * laying out elements at a few million pixels), so past the cap one pixel of scroll is
 * several rows; the keyboard and `scrollToRow` still reach every row exactly.
 */
export interface VirtualRowsOptions {
  /** Rows in view at once. */
  lines: number;
  label: string;
  /** The elements of rows `first` to `first + count`; stale calls are aborted. */
  render(first: number, count: number, signal: AbortSignal): Promise<HTMLElement[]>;
}

/** The largest scroll height used: well under where Chromium and Firefox stop. */
const MAX_SCROLL_PX = 4_000_000;
/** A row's height, in rem, as styles.css sets it. */
const ROW_REM = 1.5;

export class VirtualRows {
  readonly element: HTMLElement;
  readonly #viewport: HTMLElement;
  readonly #spacer: HTMLElement;
  readonly #options: VirtualRowsOptions;
  #count = 0;
  #first = 0;
  #expectedScrollTop = -1;
  #pending: AbortController | undefined;
  /** Resolves when the rows in view are drawn. */
  rendered: Promise<void> = Promise.resolve();

  constructor(options: VirtualRowsOptions) {
    this.#options = options;
    this.element = document.createElement('div');
    this.element.className = 'virtual-rows';
    this.element.tabIndex = 0;
    this.element.setAttribute('role', 'region');
    this.element.setAttribute('aria-label', options.label);
    this.element.style.setProperty('--lines', String(options.lines));
    this.#viewport = document.createElement('div');
    this.#viewport.className = 'virtual-rows-viewport';
    this.#spacer = document.createElement('div');
    this.element.append(this.#viewport, this.#spacer);
    this.element.addEventListener('scroll', () => this.#onScroll());
    this.element.addEventListener('keydown', (event) => this.#onKey(event));
  }

  get first(): number {
    return this.#first;
  }

  get count(): number {
    return this.#count;
  }

  /** Sets the number of rows (it may grow while a walk goes on) and redraws. */
  setCount(count: number): void {
    this.#count = count;
    this.#layout();
    this.scrollToRow(this.#first);
  }

  /** Brings `row` to the top of the view (or as near as the end allows). */
  scrollToRow(row: number): void {
    const lines = this.#options.lines;
    this.#first = Math.max(0, Math.min(Math.trunc(row), Math.max(0, this.#count - lines)));
    const range = this.#scrollRange();
    const maxFirst = Math.max(0, this.#count - lines);
    const top = maxFirst > 0 ? Math.round((this.#first / maxFirst) * range) : 0;
    this.#expectedScrollTop = top;
    this.element.scrollTop = top;
    this.#draw();
  }

  /** Redraws the rows in view (their contents changed). */
  refresh(): void {
    this.#draw();
  }

  #rowHeight(): number {
    // Rows are 1.5rem high (styles.css): in pixels, whatever font size the user has.
    return ROW_REM * Number.parseFloat(getComputedStyle(document.documentElement).fontSize);
  }

  #layout(): void {
    const height = Math.min(this.#count * this.#rowHeight(), MAX_SCROLL_PX);
    this.#spacer.style.height = `${Math.max(0, height - this.#options.lines * this.#rowHeight())}px`;
  }

  #scrollRange(): number {
    return Math.max(0, this.element.scrollHeight - this.element.clientHeight);
  }

  #onScroll(): void {
    const top = this.element.scrollTop;
    if (Math.abs(top - this.#expectedScrollTop) < 1) return;
    this.#expectedScrollTop = top;
    const range = this.#scrollRange();
    const maxFirst = Math.max(0, this.#count - this.#options.lines);
    this.#first = range > 0 ? Math.round((top / range) * maxFirst) : 0;
    this.#draw();
  }

  #onKey(event: KeyboardEvent): void {
    const lines = this.#options.lines;
    const moves: Record<string, number> = {
      ArrowDown: 1,
      ArrowUp: -1,
      PageDown: lines,
      PageUp: -lines,
      Home: -Infinity,
      End: Infinity,
    };
    const move = moves[event.key];
    if (move === undefined) return;
    event.preventDefault();
    const target = Number.isFinite(move) ? this.#first + move : move > 0 ? this.#count : 0;
    this.scrollToRow(target);
  }

  #draw(): void {
    this.#pending?.abort();
    const controller = new AbortController();
    this.#pending = controller;
    const first = this.#first;
    const count = Math.min(this.#options.lines, this.#count - first);
    this.rendered = (async () => {
      try {
        const rows = count > 0 ? await this.#options.render(first, count, controller.signal) : [];
        if (controller.signal.aborted) return;
        this.#viewport.replaceChildren(...rows);
      } catch (error) {
        if (controller.signal.aborted) return;
        const message = document.createElement('div');
        message.className = 'row error';
        message.textContent = error instanceof Error ? error.message : String(error);
        this.#viewport.replaceChildren(message);
      }
    })();
  }
}
