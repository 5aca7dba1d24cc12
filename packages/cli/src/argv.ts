import { readFileSync } from 'node:fs';

/**
 * The command's arguments, with file names that are not UTF-8 intact. Node decodes argv as
 * UTF-8 and replaces each invalid byte with U+FFFD, so `vdisk info $'n\xff.img'` would
 * look for `n\uFFFD.img`. When an argument holds U+FFFD, its bytes are read back from
 * /proc/self/cmdline (Linux) and decoded with core's `decodeFileName`, whose escaped
 * bytes core's file sources open as the same bytes. Elsewhere, or when the command line
 * cannot be matched to argv, the arguments stay as Node decoded them. Output then writes
 * those names as their bytes too (`writeEscapedBytes`).
 */
export async function commandLineArguments(): Promise<string[]> {
  const args = process.argv.slice(2);
  if (!args.some((arg) => arg.includes('\uFFFD'))) return args;
  let cmdline: Buffer;
  try {
    cmdline = readFileSync('/proc/self/cmdline');
  } catch {
    return args;
  }
  // NUL-terminated arguments: node, its options, the script, then the user's arguments.
  const raw: Buffer[] = [];
  for (let start = 0; start < cmdline.length; ) {
    let end = cmdline.indexOf(0, start);
    if (end < 0) end = cmdline.length;
    raw.push(cmdline.subarray(start, end));
    start = end + 1;
  }
  const tail = raw.slice(raw.length - args.length);
  // Each byte string must decode (lossily, as Node did) to its argument: else they are not the same list.
  if (tail.length !== args.length || tail.some((bytes, i) => bytes.toString('utf8') !== args[i])) return args;
  const [{ decodeFileName, encodeFileName }, { writeEscapedBytes }] = await Promise.all([
    import('@vdisk/core/node'),
    import('./stdout.js'),
  ]);
  writeEscapedBytes(encodeFileName);
  return tail.map((bytes, i) => ((args[i] as string).includes('\uFFFD') ? decodeFileName(bytes) : (args[i] as string)));
}
