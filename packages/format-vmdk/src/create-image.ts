import { type ByteSource, type CreateOptions, InvalidArgumentError, ReadOnlyError, writeSource } from '@vdisk/core';
import {
  DESCRIPTOR_SIZE,
  FIELD,
  FLAG_NL_DETECT,
  FLAG_RGD,
  FLAG_ZERO_GRAIN,
  HEADER_SIZE,
  SECTOR_SIZE,
} from './header.js';

/** The creation options of `-f vmdk` vdisk knows (qemu-img create -o), as QEMU 7.2 names them. */
export const CREATE_OPTIONS = ['subformat', 'zeroed_grain', 'adapter_type'] as const;
const ADAPTER_TYPES = ['ide', 'lsilogic', 'buslogic', 'legacyESX'];
/** QEMU's other subformats, which vdisk neither reads nor writes. */
const OTHER_SUBFORMATS = ['monolithicFlat', 'twoGbMaxExtentSparse', 'twoGbMaxExtentFlat', 'streamOptimized'];
const GRANULARITY = 128;
const GTES_PER_GT = 512;

function onOff(key: string, value: string | undefined): boolean {
  if (value === undefined || value === 'off') return false;
  if (value === 'on') return true;
  throw new InvalidArgumentError(`Parameter '${key}' expects 'on' or 'off'`);
}

/** The last component of a path, Windows or POSIX: the extent's name in the descriptor. */
function baseName(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || 'disk.vmdk';
}

/** QEMU 7.2's descriptor text for a monolithicSparse image (vmdk_co_do_create's template). */
export function descriptorFor(sectors: number, extentName: string, cid: number, adapter: string): string {
  const heads = adapter === 'ide' ? 16 : 255;
  const cylinders = Math.floor((sectors * SECTOR_SIZE) / (63 * heads * SECTOR_SIZE));
  return [
    '# Disk DescriptorFile',
    'version=1',
    `CID=${cid.toString(16)}`, // QEMU's %x: no leading zeros
    'parentCID=ffffffff',
    'createType="monolithicSparse"',
    '',
    '# Extent description',
    `RW ${sectors} SPARSE "${extentName}"`,
    '',
    '# The Disk Data Base',
    '#DDB',
    '',
    'ddb.virtualHWVersion = "4"',
    `ddb.geometry.cylinders = "${cylinders}"`,
    `ddb.geometry.heads = "${heads}"`,
    'ddb.geometry.sectors = "63"',
    `ddb.adapterType = "${adapter}"`,
    'ddb.toolsVersion = "2147483647"',
    '',
  ].join('\n');
}

/**
 * A new, empty monolithicSparse VMDK on `target`, laid out as QEMU 7.2's vmdk_init_extent
 * makes it: the header, the descriptor at sector 1 (20 sectors), the redundant grain
 * directory and its tables, the grain directory and its tables (every table allocated, all
 * entries 0), grains from a 64 KiB boundary. The CID is random, as qemu-img's.
 */
export async function createImage(
  target: ByteSource,
  { virtualSize, options, filename }: CreateOptions,
): Promise<void> {
  const unknown = Object.keys(options).find((key) => !(CREATE_OPTIONS as readonly string[]).includes(key));
  if (unknown !== undefined) throw new InvalidArgumentError(`Invalid parameter '${unknown}'`);
  if (!target.write) throw new ReadOnlyError('The target of the new image cannot be written');
  const subformat = options.subformat ?? 'monolithicSparse';
  if (subformat !== 'monolithicSparse') {
    throw new InvalidArgumentError(
      OTHER_SUBFORMATS.includes(subformat)
        ? `VMDK subformat '${subformat}' is not supported: vdisk creates only monolithicSparse`
        : `Unknown subformat: ${subformat}`,
    );
  }
  const zeroed = onOff('zeroed_grain', options.zeroed_grain);
  const adapter = options.adapter_type ?? 'ide';
  if (!ADAPTER_TYPES.includes(adapter)) throw new InvalidArgumentError(`Unknown adapter type: '${adapter}'`);

  const sectors = Math.ceil(virtualSize / SECTOR_SIZE);
  const grains = Math.ceil(sectors / GRANULARITY);
  const gtSectors = Math.ceil((GTES_PER_GT * 4) / SECTOR_SIZE);
  const gtCount = Math.ceil(grains / GTES_PER_GT);
  const gdSectors = Math.ceil((gtCount * 4) / SECTOR_SIZE);
  const descriptorOffset = 1;
  const descriptorSectors = DESCRIPTOR_SIZE / SECTOR_SIZE;
  const rgdOffset = descriptorOffset + descriptorSectors;
  const gdOffset = rgdOffset + gdSectors + gtSectors * gtCount;
  const grainOffset = Math.ceil((gdOffset + gdSectors + gtSectors * gtCount) / GRANULARITY) * GRANULARITY;

  const header = new Uint8Array(HEADER_SIZE);
  const v = new DataView(header.buffer);
  header.set([0x4b, 0x44, 0x4d, 0x56], 0); // "KDMV"
  v.setUint32(FIELD.version, zeroed ? 2 : 1, true);
  v.setUint32(FIELD.flags, FLAG_RGD | FLAG_NL_DETECT | (zeroed ? FLAG_ZERO_GRAIN : 0), true);
  v.setBigUint64(FIELD.capacity, BigInt(sectors), true);
  v.setBigUint64(FIELD.granularity, BigInt(GRANULARITY), true);
  v.setBigUint64(FIELD.descriptorOffset, BigInt(descriptorOffset), true);
  v.setBigUint64(FIELD.descriptorSize, BigInt(descriptorSectors), true);
  v.setUint32(FIELD.gtesPerGt, GTES_PER_GT, true);
  v.setBigUint64(FIELD.rgdOffset, BigInt(rgdOffset), true);
  v.setBigUint64(FIELD.gdOffset, BigInt(gdOffset), true);
  v.setBigUint64(FIELD.grainOffset, BigInt(grainOffset), true);
  header.set([0x0a, 0x20, 0x0d, 0x0a], FIELD.newlineCheck);

  const cid = globalThis.crypto.getRandomValues(new Uint32Array(1))[0] as number;
  const descriptor = new Uint8Array(DESCRIPTOR_SIZE);
  const text = descriptorFor(sectors, baseName(filename ?? 'disk.vmdk'), cid, adapter);
  if (text.length > DESCRIPTOR_SIZE) throw new InvalidArgumentError('The VMDK descriptor is too long');
  for (let i = 0; i < text.length; i++) descriptor[i] = text.charCodeAt(i) & 0xff;

  // Each directory, then its tables (all zeros: nothing allocated).
  const directory = (first: number) => {
    const bytes = new Uint8Array(gdSectors * SECTOR_SIZE);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < gtCount; i++) view.setUint32(i * 4, first + gdSectors + i * gtSectors, true);
    return bytes;
  };
  await writeSource(target, [header, descriptor, directory(rgdOffset)], 0);
  await writeSource(target, [directory(gdOffset)], gdOffset * SECTOR_SIZE);
  // The tables and the space up to the first grain read as zeros: the file is extended to it.
  const end = grainOffset * SECTOR_SIZE;
  if (target.truncate) await target.truncate(end);
  else await writeSource(target, [new Uint8Array(SECTOR_SIZE)], end - SECTOR_SIZE);
}
