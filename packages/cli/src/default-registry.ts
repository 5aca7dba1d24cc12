import { type BlockDriver, Registry } from '@vdisk/core';
import { BochsDriver, BochsRedologDriver, BochsSparseDriver } from '@vdisk/format-bochs';
import { RawDriver } from '@vdisk/format-raw';
import { VdiDriver } from '@vdisk/format-vdi';
import { VmdkDriver } from '@vdisk/format-vmdk';
import { VpcDriver } from '@vdisk/format-vpc';

/** Drivers of the format plugins loaded from `--plugin`, added once by main before a command runs. */
const pluginDrivers: BlockDriver[] = [];

export function addPluginDrivers(drivers: readonly BlockDriver[]): void {
  pluginDrivers.push(...drivers);
}

/**
 * The CLI is the composition root: it alone knows which formats exist. Raw first, so any
 * other format wins a tie; plugins last. Its own drivers need no container: a plain
 * `new Registry`, so a command without plugins never loads inversify (the start-up of
 * `vdisk probe`); plugins' ContainerModules are resolved where they are loaded.
 */
export function defaultRegistry(): Registry {
  return new Registry([
    new RawDriver(),
    new BochsDriver(),
    new BochsSparseDriver(),
    new BochsRedologDriver(),
    new VpcDriver(),
    new VdiDriver(),
    new VmdkDriver(),
    ...pluginDrivers,
  ]);
}
