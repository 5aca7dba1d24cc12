/**
 * File names that are not UTF-8. A Linux file name is bytes; JavaScript strings are UTF-16.
 * vdisk carries a name's invalid bytes in a string as Python's `surrogateescape` does: each
 * byte 0x80..0xFF that is not part of valid UTF-8 becomes the lone surrogate U+DC80..U+DCFF,
 * which no valid UTF-8 text contains, so the bytes come back exactly (`n\xff.img` is
 * `'n\udcff.img'`). Node's fs takes a Buffer path for such a name.
 */

/** An escaped byte: a low surrogate U+DC80..U+DCFF not preceded by a high surrogate. */
const ESCAPED_BYTE = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/;

/** Decodes the bytes of a file name: UTF-8, with each invalid byte kept as U+DC80..U+DCFF. */
export function decodeFileName(bytes: Uint8Array): string {
  let text = '';
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i] as number;
    if (lead < 0x80) {
      text += String.fromCharCode(lead);
      i++;
      continue;
    }
    const extra =
      lead >= 0xc2 && lead <= 0xdf ? 1 : lead >= 0xe0 && lead <= 0xef ? 2 : lead >= 0xf0 && lead <= 0xf4 ? 3 : 0;
    let codePoint = extra === 1 ? lead & 0x1f : extra === 2 ? lead & 0x0f : lead & 0x07;
    let valid = extra > 0 && i + extra < bytes.length;
    for (let k = 1; valid && k <= extra; k++) {
      const next = bytes[i + k] as number;
      if ((next & 0xc0) !== 0x80) valid = false;
      else codePoint = (codePoint << 6) | (next & 0x3f);
    }
    // No overlong forms, no UTF-16 surrogates, nothing past U+10FFFF (RFC 3629).
    if (valid && extra === 2 && (codePoint < 0x800 || (codePoint >= 0xd800 && codePoint <= 0xdfff))) valid = false;
    if (valid && extra === 3 && (codePoint < 0x10000 || codePoint > 0x10ffff)) valid = false;
    if (valid) {
      text += String.fromCodePoint(codePoint);
      i += extra + 1;
    } else {
      text += String.fromCharCode(0xdc00 + lead);
      i++;
    }
  }
  return text;
}

/** The bytes of a file name decoded by `decodeFileName` (or any string: UTF-8). */
export function encodeFileName(name: string): Buffer {
  const parts: Buffer[] = [];
  let rest = name;
  for (let match = ESCAPED_BYTE.exec(rest); match; match = ESCAPED_BYTE.exec(rest)) {
    parts.push(Buffer.from(rest.slice(0, match.index), 'utf8'), Buffer.of(rest.charCodeAt(match.index) - 0xdc00));
    rest = rest.slice(match.index + 1);
  }
  parts.push(Buffer.from(rest, 'utf8'));
  return Buffer.concat(parts);
}

/** What to give Node's fs for `name`: the string itself, or its bytes when it carries escaped bytes. */
export function fileSystemPath(name: string): string | Buffer {
  return ESCAPED_BYTE.test(name) ? encodeFileName(name) : name;
}
