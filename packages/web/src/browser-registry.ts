import { createRegistry, type Registry } from '@vdisk/core';
import { bochsModule } from '@vdisk/format-bochs';
import { rawModule } from '@vdisk/format-raw';
import { vdiModule } from '@vdisk/format-vdi';
import { vmdkModule } from '@vdisk/format-vmdk';
import { vpcModule } from '@vdisk/format-vpc';

/**
 * The page is a composition root like the CLI: it names the formats it knows, in the
 * CLI's order (raw first, so any other format wins a tie). A new format package is one
 * more module here.
 */
export function browserRegistry(): Registry {
  return createRegistry(rawModule, bochsModule, vpcModule, vdiModule, vmdkModule);
}
