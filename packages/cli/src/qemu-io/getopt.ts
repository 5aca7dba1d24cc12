/**
 * glibc's getopt(3), as qemu-io's commands call it: short options from `optstring` (a letter
 * followed by `:` takes an argument, attached or as the next word), grouped flags (`-vq`),
 * `--` ending the options, and GNU's permutation, so options may follow the operands
 * (`read 0 4 -v`). A word starting with `-` is an option, so `-1` is an invalid one, as in
 * qemu-io.
 */

export interface ParsedOption {
  letter: string;
  /** The argument of an option that takes one. */
  value?: string;
}

export interface GetoptResult {
  /** The options in the order given, up to the first error. */
  options: ParsedOption[];
  /** The words that are not options, in order. */
  operands: string[];
  /**
   * getopt's complaint, which it prints on stderr when the scan reaches it (after the options
   * before it were handled): `read: invalid option -- 'x'`.
   */
  error?: string;
}

export function getopt(command: string, words: readonly string[], optstring: string): GetoptResult {
  const options: ParsedOption[] = [];
  const operands: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i] as string;
    if (word === '--') {
      operands.push(...words.slice(i + 1));
      break;
    }
    if (!word.startsWith('-') || word === '-') {
      operands.push(word); // permuted to the end
      continue;
    }
    for (let at = 1; at < word.length; at++) {
      const letter = word[at] as string;
      const spec = letter === ':' ? -1 : optstring.indexOf(letter);
      if (spec < 0) {
        return { options, operands, error: `${command}: invalid option -- '${letter}'` };
      }
      if (optstring[spec + 1] !== ':') {
        options.push({ letter });
        continue;
      }
      if (at + 1 < word.length) {
        options.push({ letter, value: word.slice(at + 1) });
      } else if (i + 1 < words.length) {
        options.push({ letter, value: words[++i] as string });
      } else {
        return { options, operands, error: `${command}: option requires an argument -- '${letter}'` };
      }
      break;
    }
  }
  return { options, operands };
}
