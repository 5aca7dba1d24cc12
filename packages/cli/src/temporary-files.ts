import { unlinkSync } from 'node:fs';
import { fileSystemPath } from '@vdisk/core/node';

/**
 * The temporary files a running command has made (convert's and create's output before its
 * rename), so that no way of ending the process leaves one behind: the command removes its
 * own when it fails or is aborted, and bin.ts removes what is left, synchronously, when a
 * second signal (a second Ctrl-C, SIGTERM after SIGINT) ends the process at once or the
 * process exits on an unexpected error. Only SIGKILL can leave one, named
 * `.NAME.RANDOM.vdisk-tmp` beside its target.
 */
const temporaries = new Set<string>();

export function addTemporary(path: string): void {
  temporaries.add(path);
}

/** The file was renamed into place or removed: nothing to clean up any more. */
export function forgetTemporary(path: string): void {
  temporaries.delete(path);
}

/** Removes every temporary file still registered (synchronous: it runs in signal and exit handlers). */
export function removeTemporariesSync(): void {
  for (const path of temporaries) {
    try {
      unlinkSync(fileSystemPath(path));
    } catch {
      // already gone
    }
    temporaries.delete(path);
  }
}
