/** Set by `--debug`: errors then also print their stack. A module of its own, so main loads nothing else for it. */
export const debug = { enabled: false };
