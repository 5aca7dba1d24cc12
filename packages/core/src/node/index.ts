// The Node.js edge of core: files. Everything else in @vdisk/core runs anywhere.
export { FileSource, type FileSourceOptions } from './file-source.js';
export { openFile, probeFile } from './open-file.js';
export { toSystemError } from './system-error.js';
