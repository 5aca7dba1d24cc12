/** Prints a warning that does not stop the command (core's `onWarning`), as qemu-img prints its own: one line on stderr. */
export function printWarning(message: string): void {
  process.stderr.write(`${message}\n`);
}
