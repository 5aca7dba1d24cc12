/** QEMU probes with the first sector (BLOCK_PROBE_BUF_SIZE is 512). */
export const PROBE_SIZE = 512;
