import { ImageFormatError } from '@vdisk/core';
import { DYNAMIC, PARENT_NAME_SIZE, SECTOR_SIZE } from './footer.js';

/**
 * How a differencing VHD names its parent (Microsoft's VHD specification 1.0, "Dynamic Disk
 * Header"): the parent's unicode name (UTF-16 big-endian, 512 bytes at 64) and eight parent
 * locator entries of 24 bytes at 576, each a platform code, the space reserved for its data
 * (in sectors), the data's length in bytes, 4 reserved bytes and the data's file offset
 * (u64). The data is the parent's path: `W2ru` relative (UTF-16LE, `.\base.vhd`), `W2ku`
 * absolute (UTF-16LE), `MacX` a file URL (UTF-8); `Mac ` is a Mac OS alias, which vdisk
 * cannot read.
 */

export const LOCATOR_COUNT = 8;
export const LOCATOR_SIZE = 24;
/** A locator longer than Windows' longest path (32767 UTF-16 units) is refused, so a hostile length allocates nothing. */
export const MAX_LOCATOR_BYTES = 65536;

export const PLATFORM_RELATIVE = 'W2ru';
export const PLATFORM_ABSOLUTE = 'W2ku';
export const PLATFORM_MAC_URL = 'MacX';
/** The order in which the parent's name is taken: Hyper-V's (relative first), then the header's unicode name. */
const PREFERENCE = [PLATFORM_RELATIVE, PLATFORM_ABSOLUTE, PLATFORM_MAC_URL] as const;

const LOCATOR = { code: 0, dataSpace: 4, dataLength: 8, dataOffset: 16 } as const;

/** One parent locator entry that points at data. */
export interface ParentLocator {
  /** Its slot, 0 to 7. */
  index: number;
  /** The platform code, 4 characters (`W2ru`). */
  code: string;
  dataLength: number;
  dataOffset: number;
}

/** The parent as the dynamic header names it. */
export interface ParentName {
  /** The parent's name, `/`-separated: relative names are relative to the child's directory. */
  filename: string;
  /** Where it came from: a platform code, or `name` for the header's unicode name. */
  from: string;
  /** The end of the last locator's data in the file: new blocks go after it, never over it. */
  locatorsEnd: number;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A platform code as text; non-printable bytes as `\xNN`, so an error message stays one readable line. */
function codeText(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes)
    text += byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  return text;
}

/**
 * The locator entries of a dynamic header (1024 bytes) that point at data, each checked to
 * lie wholly in a file of `fileSize` bytes and to be no longer than MAX_LOCATOR_BYTES.
 * Entries with platform code 0 or data length 0 are unused.
 */
export function parseLocators(header: Uint8Array, fileSize: number): ParentLocator[] {
  const v = view(header);
  const locators: ParentLocator[] = [];
  for (let index = 0; index < LOCATOR_COUNT; index++) {
    const at = DYNAMIC.parentLocators + index * LOCATOR_SIZE;
    const codeBytes = header.subarray(at + LOCATOR.code, at + LOCATOR.code + 4);
    const dataLength = v.getUint32(at + LOCATOR.dataLength);
    if (v.getUint32(at + LOCATOR.code) === 0 || dataLength === 0) continue;
    const code = codeText(codeBytes);
    if (dataLength > MAX_LOCATOR_BYTES) {
      throw new ImageFormatError(`Parent locator ${index} (${code}) is too long: ${dataLength} bytes`);
    }
    const offset = v.getBigUint64(at + LOCATOR.dataOffset);
    if (offset + BigInt(dataLength) > BigInt(fileSize)) {
      throw new ImageFormatError(`Parent locator ${index} (${code}) lies past the end of the file`);
    }
    locators.push({ index, code, dataLength, dataOffset: Number(offset) });
  }
  return locators;
}

/** UTF-16 code units to text, up to the first NUL. */
function utf16(bytes: Uint8Array, littleEndian: boolean): string {
  const v = view(bytes);
  const units: number[] = [];
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    const unit = v.getUint16(i, littleEndian);
    if (unit === 0) break;
    units.push(unit);
  }
  let text = '';
  // In slices: String.fromCharCode's arguments are bounded by the stack.
  for (let i = 0; i < units.length; i += 4096) text += String.fromCharCode(...units.slice(i, i + 4096));
  return text;
}

/** A Windows path as vdisk's names are written: `/` for `\`, without a leading `./`. */
function fromWindowsPath(path: string): string {
  let name = path.replaceAll('\\', '/');
  while (name.startsWith('./')) name = name.slice(2);
  return name;
}

/** `file://host/path` (percent-encoded, UTF-8) to the path. */
function fromFileUrl(url: string, locator: ParentLocator): string {
  if (!url.startsWith('file://')) return url;
  const rest = url.slice('file://'.length);
  const slash = rest.indexOf('/');
  const path = slash < 0 ? '' : rest.slice(slash);
  try {
    return decodeURIComponent(path);
  } catch {
    throw new ImageFormatError(`Parent locator ${locator.index} (${locator.code}) is not a valid file URL`);
  }
}

/** The parent's name in one locator's data, or '' when it holds none. */
export function decodeLocator(locator: ParentLocator, data: Uint8Array): string {
  if (locator.code === PLATFORM_MAC_URL) {
    const text = new TextDecoder('utf-8').decode(data);
    const end = text.indexOf('\0');
    return fromFileUrl(end < 0 ? text : text.slice(0, end), locator);
  }
  return fromWindowsPath(utf16(data, true));
}

/** The header's parent unicode name (UTF-16 big-endian). */
export function parentUnicodeName(header: Uint8Array): string {
  return fromWindowsPath(utf16(header.subarray(DYNAMIC.parentName, DYNAMIC.parentName + PARENT_NAME_SIZE), false));
}

/**
 * The parent a differencing disk names: the first of its W2ru, W2ku and MacX locators that
 * holds a name, else the header's unicode name. `read` reads file bytes (the locators are
 * checked to lie in the file first, so it reads at most MAX_LOCATOR_BYTES per locator).
 */
export async function readParentName(
  header: Uint8Array,
  fileSize: number,
  read: (buffer: Uint8Array, position: number) => Promise<void>,
): Promise<ParentName> {
  const locators = parseLocators(header, fileSize);
  let locatorsEnd = 0;
  for (const locator of locators) {
    const end = Math.ceil((locator.dataOffset + locator.dataLength) / SECTOR_SIZE) * SECTOR_SIZE;
    locatorsEnd = Math.max(locatorsEnd, end);
  }
  for (const code of PREFERENCE) {
    for (const locator of locators) {
      if (locator.code !== code) continue;
      const data = new Uint8Array(locator.dataLength);
      await read(data, locator.dataOffset);
      const filename = decodeLocator(locator, data);
      if (filename !== '') return { filename, from: code, locatorsEnd };
    }
  }
  const filename = parentUnicodeName(header);
  if (filename === '') throw new ImageFormatError('Differencing VHD does not name its parent');
  return { filename, from: 'name', locatorsEnd };
}

/** `text` as UTF-16 code units, little- or big-endian. */
export function encodeUtf16(text: string, littleEndian: boolean): Uint8Array {
  const bytes = new Uint8Array(text.length * 2);
  const v = view(bytes);
  for (let i = 0; i < text.length; i++) v.setUint16(i * 2, text.charCodeAt(i), littleEndian);
  return bytes;
}

/** A relative name as Windows writes it in a W2ru locator: `.\base.vhd`, `..\dir\base.vhd`. */
export function windowsRelativePath(filename: string): string {
  const path = filename.replaceAll('/', '\\');
  return path.startsWith('.\\') || path.startsWith('..\\') ? path : `.\\${path}`;
}

/** One 24-byte locator entry; `dataSpace` in sectors, as the specification says. */
export function buildLocatorEntry(code: string, dataLength: number, dataOffset: number): Uint8Array {
  const entry = new Uint8Array(LOCATOR_SIZE);
  const v = view(entry);
  for (let i = 0; i < 4; i++) entry[LOCATOR.code + i] = code.charCodeAt(i);
  v.setUint32(LOCATOR.dataSpace, Math.max(1, Math.ceil(dataLength / SECTOR_SIZE)));
  v.setUint32(LOCATOR.dataLength, dataLength);
  v.setBigUint64(LOCATOR.dataOffset, BigInt(dataOffset));
  return entry;
}
