/**
 * Whether a command line is `vdisk probe FILE...` with no option at all: the one bin runs
 * without commander (fast-probe.ts). Commander would parse it as FILE... with
 * `--output human` and no `--debug` or `--plugin`; anything that starts with `-` (an option,
 * `--`, `-` or a file named so) goes to commander, whose every rule then applies.
 */
export function isPlainProbe(args: readonly string[]): boolean {
  return args.length >= 2 && args[0] === 'probe' && !args.some((arg) => arg.startsWith('-'));
}
