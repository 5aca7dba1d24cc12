// The Node.js edge of core: files and streams. Everything else in @vdisk/core runs anywhere.
export { blockDeviceSize, deviceNumbers } from './block-device-size.js';
export { decodeFileName, encodeFileName, fileSystemPath } from './file-name.js';
export { type FileCreateOptions, FileSource, type FileSourceOptions } from './file-source.js';
export { fileBackingOpener, openFile, probeFile } from './open-file.js';
export { createReadStream, type ReadStreamOptions } from './read-stream.js';
export { createSparseStream, type DataChunk, readDataChunks, type SparseStreamOptions } from './sparse-stream.js';
export { DEFAULT_CHUNK_SIZE, type StreamRangeOptions } from './stream-range.js';
export { toSystemError } from './system-error.js';
