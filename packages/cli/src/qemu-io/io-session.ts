import { throwIfAborted } from '@vdisk/core';
import { findCommand, type IoContext, isQuit } from './io-commands.js';

/**
 * Runs qemu-io's command lines, one after the other as qemu-io does: each line is split on
 * spaces (qemu-io's breakline: no quoting, runs of spaces are one), its command looked up by
 * name or short name and its argument count checked (`bad argument count ...` on stderr).
 * A failed command does not stop the script; the result says whether any failed, which is
 * qemu-io's exit code 1. `quit` ends the script, and so does an abort (Ctrl-C), with
 * `AbortedError` once the command that was running has completed.
 */
export async function runIoScript(context: IoContext, lines: readonly string[]): Promise<{ failed: boolean }> {
  let failed = false;
  for (const line of lines) {
    throwIfAborted(context.signal);
    const words = line.split(' ').filter((word) => word !== '');
    const [name, ...args] = words;
    if (name === undefined) continue;
    const command = findCommand(name);
    if (!command) {
      context.stderr(`command "${name}" not found\n`);
      failed = true;
      continue;
    }
    if (args.length < command.argmin || (command.argmax !== -1 && args.length > command.argmax)) {
      const expected =
        command.argmax === -1
          ? `at least ${command.argmin}`
          : command.argmin === command.argmax
            ? `${command.argmin}`
            : `between ${command.argmin} and ${command.argmax}`;
      context.stderr(`bad argument count ${args.length} to ${name}, expected ${expected} arguments\n`);
      failed = true;
      continue;
    }
    if (isQuit(command)) break;
    if (command.writes && !context.device.writable) {
      // qemu-io asks for write permission before it parses the command: `qemu-io: Block node is read-only`.
      context.stderr(`vdisk: ${context.filename}: Block node is read-only\n`);
      failed = true;
      continue;
    }
    if (!(await command.run(context, name, args))) failed = true;
  }
  return { failed };
}
