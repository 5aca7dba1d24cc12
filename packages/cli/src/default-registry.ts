import { createRegistry, type Registry } from '@vdisk/core';
import { bochsModule } from '@vdisk/format-bochs';
import { rawModule } from '@vdisk/format-raw';

/** The CLI is the composition root: it alone knows which formats exist. Raw first, so any other format wins a tie. */
export function defaultRegistry(): Registry {
  return createRegistry(rawModule, bochsModule);
}
