/**
 * Ctrl-C (SIGINT), SIGTERM, SIGHUP (a closed terminal) and SIGQUIT (Ctrl-\). The first one aborts the running command through the
 * signal main hands it, so that a command that writes cleans up (convert removes its
 * partial output) and one that reads stops at its next step; the process then ends by
 * that signal, as qemu-img does (the shell sees 130 or 143). A command that has not ended
 * GRACE_MS after the signal, or a second signal, ends the process at once (`--debug` says
 * so when the grace period ran out).
 */
import { debug } from './debug-mode.js';
import { removeTemporariesSync } from './temporary-files.js';

/** How long an interrupted command may take to clean up. */
const GRACE_MS = 2000;

const controller = new AbortController();
let received: NodeJS.Signals | undefined;
let graceMs = GRACE_MS;

/**
 * For a command whose clean end takes longer than GRACE_MS: `vdisk serve` lets its
 * clients' requests finish, then flushes and closes the image. A second signal still ends
 * the process at once.
 */
export function extendInterruptGrace(ms: number): void {
  graceMs = Math.max(graceMs, ms);
}

/** Whether one of those signals has arrived: its AbortedError is then no error to print. */
export function interrupted(): boolean {
  return received !== undefined;
}

/** Listens for the signals; the returned signal aborts when one arrives. */
export function listenForInterrupts(): AbortSignal {
  for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) process.on(name, () => onInterrupt(name));
  return controller.signal;
}

function onInterrupt(name: NodeJS.Signals): void {
  if (received) dieBy(name);
  received = name;
  controller.abort();
  setTimeout(() => {
    if (debug.enabled) process.stderr.write(`vdisk: the command did not end within ${graceMs} ms of ${name}\n`);
    dieBy(name);
  }, graceMs).unref();
}

/**
 * Ends the command. After an interrupt, a command that still succeeded (a server, whose
 * normal end is Ctrl-C) exits 0; one the interrupt cut short dies by the signal.
 */
export function finish(code: number): void {
  if (received && code !== 0) dieBy(received);
  process.exitCode = code;
}

/**
 * Dies by `name`'s default action, as if vdisk had never handled it (SIGPIPE too, which
 * Node ignores from the start): with the listeners gone Node restores the default
 * disposition, and a signal sent to oneself is delivered before kill returns.
 */
export function dieBy(name: NodeJS.Signals): never {
  // Convert's and create's partial output goes first: no way of ending leaves one behind.
  removeTemporariesSync();
  process.removeAllListeners(name);
  if (name === 'SIGPIPE') process.once('SIGPIPE', () => {}).removeAllListeners('SIGPIPE');
  process.kill(process.pid, name);
  // Only if the signal did not end the process: the shell's code for it.
  process.exit(128 + (SIGNAL_NUMBERS[name] ?? 1));
}

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGPIPE: 13,
  SIGTERM: 15,
};
