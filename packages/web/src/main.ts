import { browserRegistry } from './browser-registry.js';
import { FilePanel } from './file-panel.js';

const registry = browserRegistry();
const input = document.getElementById('file-input') as HTMLInputElement;
const zone = document.getElementById('drop-zone') as HTMLElement;
const tabs = document.getElementById('file-tabs') as HTMLElement;
const panels = document.getElementById('panels') as HTMLElement;
(document.getElementById('formats-known') as HTMLElement).textContent =
  `Formats known: ${registry.drivers.map((driver) => driver.name).join(', ')}. Any other file is shown as raw, with a warning.`;

const opened: Array<{ panel: FilePanel; tab: HTMLButtonElement }> = [];
let counter = 0;

function select(index: number): void {
  opened.forEach(({ panel, tab }, i) => {
    const selected = i === index;
    tab.setAttribute('aria-selected', String(selected));
    tab.tabIndex = selected ? 0 : -1;
    panel.element.hidden = !selected;
  });
}

/** Opens each file in a panel of its own, behind a tab; the last one opened is shown. */
function openFiles(files: Iterable<File>): void {
  for (const file of files) {
    const id = `file-${++counter}`;
    const panel = new FilePanel(registry, file, id);
    const tab = document.createElement('button');
    tab.type = 'button';
    tab.setAttribute('role', 'tab');
    tab.setAttribute('aria-controls', id);
    tab.id = `${id}-tab`;
    tab.textContent = file.name;
    panel.element.setAttribute('role', 'tabpanel');
    panel.element.setAttribute('aria-labelledby', tab.id);
    const index = opened.length;
    opened.push({ panel, tab });
    tab.addEventListener('click', () => select(index));
    tabs.append(tab);
    panels.append(panel.element);
    select(index);
    void panel.load();
  }
}

// The tabs follow the ARIA tabs pattern: arrow keys move between them.
tabs.addEventListener('keydown', (event) => {
  const current = opened.findIndex(({ tab }) => tab === document.activeElement);
  if (current < 0) return;
  const step = event.key === 'ArrowRight' ? 1 : event.key === 'ArrowLeft' ? -1 : 0;
  if (step === 0) return;
  event.preventDefault();
  const next = (current + step + opened.length) % opened.length;
  select(next);
  opened[next]?.tab.focus();
});

input.addEventListener('change', () => {
  if (input.files) openFiles(input.files);
  input.value = '';
});

// A drop anywhere on the page opens the files; the zone shows that it will.
document.addEventListener('dragover', (event) => {
  event.preventDefault();
  zone.classList.add('dragging');
});
document.addEventListener('dragleave', () => zone.classList.remove('dragging'));
document.addEventListener('drop', (event) => {
  event.preventDefault();
  zone.classList.remove('dragging');
  if (event.dataTransfer?.files.length) openFiles(event.dataTransfer.files);
});
