/** A new element with properties set and children appended. */
export function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  properties: Partial<HTMLElementTagNameMap[K]> = {},
  ...children: Array<Node | string>
): HTMLElementTagNameMap[K] {
  const node = Object.assign(document.createElement(tag), properties);
  node.append(...children);
  return node;
}

/** A section of a file's panel, with its heading. */
export function section(title: string, className: string): HTMLElement {
  const node = element('section', { className });
  node.append(element('h3', { textContent: title }));
  return node;
}
