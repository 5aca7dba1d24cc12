import type { ByteSource } from '@vdisk/core';
import { checkCatalogSize } from './geometry.js';
import type { BochsHeader } from './header.js';

const BIG_ENDIAN_HOST = new Uint8Array(Uint32Array.of(1).buffer)[0] === 0;

/**
 * The catalog of a growing image or a redolog, checked as bochs_open does, then read whole
 * in one read straight into its entries: the one allocation of an open (at most 4 MiB).
 * Past the end of the file it reads as zeros, as in QEMU; `check` reports a catalog cut short.
 */
export async function readCatalog(source: ByteSource, header: BochsHeader): Promise<Uint32Array> {
  checkCatalogSize(header);
  const catalog = new Uint32Array(header.catalogSize);
  await source.read(new Uint8Array(catalog.buffer), header.headerSize);
  if (BIG_ENDIAN_HOST) {
    // The entries are little-endian, as QEMU's le32_to_cpus does on any host.
    const view = new DataView(catalog.buffer);
    for (let i = 0; i < catalog.length; i++) catalog[i] = view.getUint32(i * 4, true);
  }
  return catalog;
}
