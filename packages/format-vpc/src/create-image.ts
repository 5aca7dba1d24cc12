import {
  type ByteSource,
  type CreateBacking,
  type CreateOptions,
  InvalidArgumentError,
  ReadOnlyError,
  writeSource,
} from '@vdisk/core';
import {
  CHS_MAX,
  calculateGeometry,
  DISK_DIFFERENCING,
  DISK_DYNAMIC,
  DISK_FIXED,
  DYNAMIC,
  DYNAMIC_COOKIE,
  DYNAMIC_HEADER_SIZE,
  FOOTER,
  FOOTER_COOKIE,
  FOOTER_SIZE,
  MAX_GEOMETRY,
  MAX_SECTORS,
  PARENT_NAME_SIZE,
  SECTOR_SIZE,
  TIMESTAMP_BASE,
  vhdChecksum,
} from './footer.js';
import {
  buildLocatorEntry,
  encodeUtf16,
  LOCATOR_SIZE,
  PLATFORM_ABSOLUTE,
  PLATFORM_RELATIVE,
  windowsRelativePath,
} from './parent-locator.js';
import { VpcImage } from './vpc-image.js';

/** The creation options of `-f vpc` (qemu-img create -o), as QEMU 7.2 names them. */
export const CREATE_OPTIONS = ['subformat', 'force_size', 'base', 'base-format'] as const;
/** QEMU's dynamic block size. */
export const BLOCK_SIZE = 2 * 1024 * 1024;
/** Where QEMU puts the BAT: after the footer copy and the 1024-byte dynamic header. */
const BAT_OFFSET = 3 * SECTOR_SIZE;

export interface VhdLayout {
  /** The geometry written to the footer. */
  cylinders: number;
  heads: number;
  sectors: number;
  /** The footer's original and current size: the virtual size qemu-img and vdisk then read. */
  currentSize: number;
}

/**
 * QEMU 7.2's vpc_co_create sizing: the smallest CHS geometry that holds the requested
 * sectors (so convert never truncates: the disk may grow to whole cylinders), or with
 * `force_size` the largest geometry and the exact size. The creator is then `qem2`, whose
 * size is read from the footer.
 */
export function vhdLayout(virtualSize: number, forceSize: boolean): VhdLayout {
  if (forceSize) {
    if (virtualSize / SECTOR_SIZE > MAX_SECTORS) {
      throw new InvalidArgumentError('Disk size is too large, max size is 2040 GiB');
    }
    return { ...CHS_MAX, currentSize: virtualSize };
  }
  const wanted = Math.min(MAX_GEOMETRY, Math.floor(virtualSize / SECTOR_SIZE));
  let geometry = { cylinders: 0, heads: 0, sectors: 0 };
  for (let i = 0; wanted > geometry.cylinders * geometry.heads * geometry.sectors; i++) {
    geometry = calculateGeometry(wanted + i);
  }
  const chs = geometry.cylinders * geometry.heads * geometry.sectors;
  if (chs === MAX_GEOMETRY) {
    if (virtualSize / SECTOR_SIZE > MAX_SECTORS) {
      throw new InvalidArgumentError('Disk size is too large, max size is 2040 GiB');
    }
    return { ...geometry, currentSize: virtualSize };
  }
  return { ...geometry, currentSize: chs * SECTOR_SIZE };
}

/** The 512-byte footer of a new image (vpc_co_create's, with a random UUID and the current time). */
export function buildFooter(layout: VhdLayout, diskType: number, creatorApp: string, now = Date.now()): Uint8Array {
  const footer = new Uint8Array(FOOTER_SIZE);
  const v = new DataView(footer.buffer);
  const ascii = (at: number, text: string) => {
    for (let i = 0; i < text.length; i++) footer[at + i] = text.charCodeAt(i);
  };
  ascii(FOOTER.cookie, FOOTER_COOKIE);
  v.setUint32(FOOTER.features, 2);
  v.setUint32(FOOTER.version, 0x00010000);
  v.setBigUint64(FOOTER.dataOffset, diskType === DISK_FIXED ? 0xffffffffffffffffn : BigInt(SECTOR_SIZE));
  v.setUint32(FOOTER.timestamp, Math.max(0, Math.floor(now / 1000) - TIMESTAMP_BASE) >>> 0);
  ascii(FOOTER.creatorApp, creatorApp);
  // Virtual PC 2007's version, as QEMU writes it.
  v.setUint16(FOOTER.creatorVersion, 5);
  v.setUint16(FOOTER.creatorVersion + 2, 3);
  ascii(FOOTER.creatorOs, 'Wi2k');
  v.setBigUint64(FOOTER.originalSize, BigInt(layout.currentSize));
  v.setBigUint64(FOOTER.currentSize, BigInt(layout.currentSize));
  v.setUint16(FOOTER.cylinders, layout.cylinders);
  footer[FOOTER.heads] = layout.heads;
  footer[FOOTER.sectors] = layout.sectors;
  v.setUint32(FOOTER.diskType, diskType);
  globalThis.crypto.getRandomValues(footer.subarray(FOOTER.uuid, FOOTER.uuid + 16));
  v.setUint32(FOOTER.checksum, vhdChecksum(footer, FOOTER.checksum));
  return footer;
}

/** What a differencing disk's dynamic header says of its parent. */
export interface ParentFields {
  /** The parent footer's unique id (16 bytes) and time stamp. */
  uuid: Uint8Array;
  timestamp: number;
  /** The parent unicode name. */
  name: string;
  /** Up to eight 24-byte locator entries. */
  locators: Uint8Array[];
}

/**
 * The 1024-byte dynamic disk header with `entries` BAT entries at `tableOffset`
 * (create_dynamic_disk's, BAT_OFFSET), and a differencing disk's parent fields.
 */
export function buildDynamicHeader(entries: number, tableOffset = BAT_OFFSET, parent?: ParentFields): Uint8Array {
  const header = new Uint8Array(DYNAMIC_HEADER_SIZE);
  const v = new DataView(header.buffer);
  for (let i = 0; i < DYNAMIC_COOKIE.length; i++) header[i] = DYNAMIC_COOKIE.charCodeAt(i);
  // The spec says 0xFFFFFFFF; Microsoft's tools expect all 64 bits set (QEMU's note).
  v.setBigUint64(DYNAMIC.dataOffset, 0xffffffffffffffffn);
  v.setBigUint64(DYNAMIC.tableOffset, BigInt(tableOffset));
  v.setUint32(DYNAMIC.version, 0x00010000);
  v.setUint32(DYNAMIC.maxTableEntries, entries);
  v.setUint32(DYNAMIC.blockSize, BLOCK_SIZE);
  if (parent) {
    header.set(parent.uuid.subarray(0, 16), DYNAMIC.parentUuid);
    v.setUint32(DYNAMIC.parentTimestamp, parent.timestamp);
    header.set(encodeUtf16(parent.name, false).subarray(0, PARENT_NAME_SIZE), DYNAMIC.parentName);
    parent.locators.slice(0, 8).forEach((entry, i) => {
      header.set(entry, DYNAMIC.parentLocators + i * LOCATOR_SIZE);
    });
  }
  v.setUint32(DYNAMIC.checksum, vhdChecksum(header, DYNAMIC.checksum));
  return header;
}

function parseOnOff(key: string, value: string | undefined): boolean {
  if (value === undefined || value === 'off') return false;
  if (value === 'on') return true;
  throw new InvalidArgumentError(`Parameter '${key}' expects 'on' or 'off'`);
}

/**
 * A new, empty VHD on `target`, laid out as qemu-img create makes it: dynamic (footer copy,
 * dynamic header, a BAT of 0xFF, footer) or with `subformat=fixed` the zeros of the disk then
 * the footer (a hole where the target can make one).
 */
export async function createImage(target: ByteSource, { virtualSize, options, backing }: CreateOptions): Promise<void> {
  const unknown = Object.keys(options).find((key) => !(CREATE_OPTIONS as readonly string[]).includes(key));
  if (unknown !== undefined) throw new InvalidArgumentError(`Invalid parameter '${unknown}'`);
  if (!target.write) throw new ReadOnlyError('The target of the new image cannot be written');
  const subformat = options.subformat ?? 'dynamic';
  if (subformat !== 'dynamic' && subformat !== 'fixed') {
    throw new InvalidArgumentError(`Invalid subformat '${subformat}'`);
  }
  const forceSize = parseOnOff('force_size', options.force_size);
  // QEMU rounds the size up to a sector before creating.
  const size = Math.ceil(virtualSize / SECTOR_SIZE) * SECTOR_SIZE;
  if (backing !== undefined || options.base !== undefined) {
    if (subformat === 'fixed') throw new InvalidArgumentError('A differencing VHD cannot be fixed (subformat=fixed)');
    if (!backing) {
      throw new InvalidArgumentError(
        'A differencing VHD needs its base open to record its unique id (CreateOptions.backing)',
      );
    }
    await createDifferencing(target, size, forceSize, backing);
    return;
  }
  const layout = vhdLayout(size, forceSize);
  const creator = forceSize ? 'qem2' : 'qemu';

  if (subformat === 'fixed') {
    // The zeros, then the footer: writing the footer past the end leaves a hole.
    await writeSource(target, [buildFooter(layout, DISK_FIXED, creator)], layout.currentSize);
    return;
  }
  const totalSectors = layout.currentSize / SECTOR_SIZE;
  const entries = Math.ceil(totalSectors / (BLOCK_SIZE / SECTOR_SIZE));
  const batBytes = Math.ceil((entries * 4) / SECTOR_SIZE) * SECTOR_SIZE;
  const footer = buildFooter(layout, DISK_DYNAMIC, creator);
  const bat = new Uint8Array(batBytes).fill(0xff);
  await writeSource(target, [footer, buildDynamicHeader(entries), bat, footer], 0);
}

/**
 * A new differencing disk (type 4) over `backing`, laid out as a dynamic image: the footer
 * copy, the dynamic header with the parent's unique id and time stamp (from its footer), its
 * unicode name (the file name) and two locators, W2ru (relative, `.\\base.vhd`) and W2ku
 * (absolute), as Windows writes them; their data (UTF-16LE) before the BAT, so that a
 * writer that does not know the locators (QEMU) never puts a block over them; the BAT;
 * the footer. The geometry and size are the parent's when the size is (so both read
 * alike under QEMU's size rule), otherwise those of a new dynamic image of that size.
 */
async function createDifferencing(
  target: ByteSource,
  size: number,
  forceSize: boolean,
  backing: CreateBacking,
): Promise<void> {
  const base = backing.device.image;
  if (!(base instanceof VpcImage)) {
    throw new InvalidArgumentError(`The base of a differencing VHD must be a VHD image, not ${backing.device.format}`);
  }
  let layout: VhdLayout;
  let creator: string;
  if (size === base.virtualSize) {
    const { cylinders, heads, sectors } = base.footer;
    layout = { cylinders, heads, sectors, currentSize: size };
    // 'qemu' reads the CHS product, 'qem2' the current size: the one that gives this size.
    creator = cylinders * heads * sectors * SECTOR_SIZE === size ? 'qemu' : 'qem2';
  } else {
    layout = vhdLayout(size, forceSize);
    creator = forceSize ? 'qem2' : 'qemu';
  }
  const pad = (bytes: Uint8Array) => {
    const padded = new Uint8Array(Math.max(SECTOR_SIZE, Math.ceil(bytes.length / SECTOR_SIZE) * SECTOR_SIZE));
    padded.set(bytes);
    return padded;
  };
  const data: { code: string; bytes: Uint8Array }[] = [
    { code: PLATFORM_RELATIVE, bytes: encodeUtf16(windowsRelativePath(backing.filename), true) },
  ];
  if (backing.fullFilename !== undefined) {
    data.push({ code: PLATFORM_ABSOLUTE, bytes: encodeUtf16(backing.fullFilename, true) });
  }
  let position = SECTOR_SIZE + DYNAMIC_HEADER_SIZE;
  const locators: Uint8Array[] = [];
  const areas: Uint8Array[] = [];
  for (const { code, bytes } of data) {
    locators.push(buildLocatorEntry(code, bytes.length, position));
    const area = pad(bytes);
    areas.push(area);
    position += area.length;
  }
  const entries = Math.ceil(layout.currentSize / BLOCK_SIZE);
  const batBytes = Math.ceil((entries * 4) / SECTOR_SIZE) * SECTOR_SIZE;
  const parentFooter = new DataView(base.footer.bytes.buffer, base.footer.bytes.byteOffset, FOOTER_SIZE);
  const header = buildDynamicHeader(entries, position, {
    uuid: base.footer.bytes.subarray(FOOTER.uuid, FOOTER.uuid + 16),
    timestamp: parentFooter.getUint32(FOOTER.timestamp),
    name: backing.filename.slice(backing.filename.lastIndexOf('/') + 1),
    locators,
  });
  const footer = buildFooter(layout, DISK_DIFFERENCING, creator);
  const bat = new Uint8Array(batBytes).fill(0xff);
  await writeSource(target, [footer, header, ...areas, bat, footer], 0);
}
