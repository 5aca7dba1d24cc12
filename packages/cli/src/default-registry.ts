import { createRegistry, type Registry } from '@vdisk/core';
import { bochsModule } from '@vdisk/format-bochs';
import { rawModule } from '@vdisk/format-raw';
import { vdiModule } from '@vdisk/format-vdi';
import { vmdkModule } from '@vdisk/format-vmdk';
import { vpcModule } from '@vdisk/format-vpc';
import type { ContainerModule } from 'inversify';

/** Format plugins loaded from `--plugin`, set once by main before a command runs. */
const extraModules: ContainerModule[] = [];

export function addFormatModules(modules: readonly ContainerModule[]): void {
  extraModules.push(...modules);
}

/**
 * The CLI is the composition root: it alone knows which formats exist. Raw first, so any
 * other format wins a tie; plugins last.
 */
export function defaultRegistry(): Registry {
  return createRegistry(rawModule, bochsModule, vpcModule, vdiModule, vmdkModule, ...extraModules);
}
