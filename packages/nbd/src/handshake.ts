import { type BlockSizes, blockSizesOf } from './block-sizes.js';
import { exportWritable, type NbdExport } from './nbd-device.js';
import {
  BASE_ALLOCATION,
  CLIENT_NO_ZEROES,
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  IHAVEOPT,
  INFO_BLOCK_SIZE,
  INFO_DESCRIPTION,
  INFO_EXPORT,
  INFO_NAME,
  KNOWN_CLIENT_FLAGS,
  NBDMAGIC,
  OPT_ABORT,
  OPT_EXPORT_NAME,
  OPT_GO,
  OPT_INFO,
  OPT_LIST,
  OPT_LIST_META_CONTEXT,
  OPT_SET_META_CONTEXT,
  OPT_STRUCTURED_REPLY,
  REP_ACK,
  REP_ERR_INVALID,
  REP_ERR_TOO_BIG,
  REP_ERR_UNKNOWN,
  REP_ERR_UNSUP,
  REP_INFO,
  REP_META_CONTEXT,
  REP_SERVER,
  REPLY_MAGIC,
  TFLAG_CAN_MULTI_CONN,
  TFLAG_HAS_FLAGS,
  TFLAG_READ_ONLY,
  TFLAG_SEND_DF,
  TFLAG_SEND_FLUSH,
  TFLAG_SEND_FUA,
  TFLAG_SEND_TRIM,
  TFLAG_SEND_WRITE_ZEROES,
} from './protocol.js';
import { DisconnectedError, type SocketReader } from './socket-reader.js';

/** The id of `base:allocation` in BLOCK_STATUS replies (any non-zero value the server picks). */
export const BASE_ALLOCATION_ID = 1;
/** The protocol's longest export name. */
const MAX_NAME = 4096;
/** Option data beyond this is refused (ERR_TOO_BIG) and skipped, never buffered. */
const MAX_OPTION_DATA = 64 * 1024;

/** What the handshake settled, for the transmission phase. */
export interface Negotiated {
  export: NbdExport;
  structuredReplies: boolean;
  /** Whether `base:allocation` was selected (SET_META_CONTEXT), so BLOCK_STATUS is allowed. */
  baseAllocation: boolean;
  /** Whether the client asked for NBD_INFO_BLOCK_SIZE and so promised to honour the minimum. */
  blockSizeKnown: boolean;
  blockSizes: BlockSizes;
  transmissionFlags: number;
}

export interface HandshakeContext {
  reader: SocketReader;
  send(buffers: readonly Uint8Array[]): Promise<void>;
  exports: ReadonlyMap<string, NbdExport>;
  maxPayload: number;
}

/** The transmission flags of an export (qemu-nbd's set, without CACHE). */
export function transmissionFlagsOf(entry: NbdExport): number {
  // One device behind every connection: a flush on one is a flush for all (MULTI_CONN).
  let flags = TFLAG_HAS_FLAGS | TFLAG_SEND_FLUSH | TFLAG_SEND_DF | TFLAG_CAN_MULTI_CONN;
  if (exportWritable(entry)) flags |= TFLAG_SEND_FUA | TFLAG_SEND_TRIM | TFLAG_SEND_WRITE_ZEROES;
  else flags |= TFLAG_READ_ONLY;
  return flags;
}

/** The server's greeting: NBDMAGIC, IHAVEOPT and the handshake flags. */
export function greeting(): Buffer {
  const buffer = Buffer.alloc(18);
  buffer.writeBigUInt64BE(NBDMAGIC, 0);
  buffer.writeBigUInt64BE(IHAVEOPT, 8);
  buffer.writeUInt16BE(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES, 16);
  return buffer;
}

function optionReply(option: number, type: number, data: Uint8Array = new Uint8Array(0)): Uint8Array[] {
  const header = Buffer.alloc(20);
  header.writeBigUInt64BE(REPLY_MAGIC, 0);
  header.writeUInt32BE(option, 8);
  header.writeUInt32BE(type >>> 0, 12);
  header.writeUInt32BE(data.length, 16);
  return data.length === 0 ? [header] : [header, data];
}

function errorReply(option: number, type: number, message: string): Uint8Array[] {
  return optionReply(option, type, Buffer.from(message, 'utf8'));
}

/** A cursor over an option's data that refuses to read past its end. */
class OptionData {
  #offset = 0;
  constructor(readonly bytes: Buffer) {}
  get remaining(): number {
    return this.bytes.length - this.#offset;
  }
  u16(): number | undefined {
    if (this.remaining < 2) return undefined;
    const value = this.bytes.readUInt16BE(this.#offset);
    this.#offset += 2;
    return value;
  }
  u32(): number | undefined {
    if (this.remaining < 4) return undefined;
    const value = this.bytes.readUInt32BE(this.#offset);
    this.#offset += 4;
    return value;
  }
  string(length: number): string | undefined {
    if (this.remaining < length) return undefined;
    const value = this.bytes.toString('utf8', this.#offset, this.#offset + length);
    this.#offset += length;
    return value;
  }
}

/**
 * The fixed newstyle handshake, from the server's side: the greeting, the client's flags,
 * then options until EXPORT_NAME or GO picks an export. Resolves with what was negotiated,
 * or undefined when the client aborted. A client that breaks the framing (a wrong magic,
 * unknown flags, an unknown export with EXPORT_NAME, which has no error reply) is
 * disconnected with a DisconnectedError.
 */
export async function negotiate(context: HandshakeContext): Promise<Negotiated | undefined> {
  const { reader, send, exports } = context;
  await send([greeting()]);
  const clientFlags = (await reader.read(4)).readUInt32BE(0);
  if ((clientFlags & ~KNOWN_CLIENT_FLAGS) !== 0) {
    throw new DisconnectedError(`unknown client flags 0x${clientFlags.toString(16)}`);
  }
  const noZeroes = (clientFlags & CLIENT_NO_ZEROES) !== 0;
  let structuredReplies = false;
  /** The export SET_META_CONTEXT selected base:allocation for, if any. */
  let metaContextExport: string | undefined;

  for (;;) {
    const header = await reader.read(16);
    if (header.readBigUInt64BE(0) !== IHAVEOPT) throw new DisconnectedError('bad option magic');
    const option = header.readUInt32BE(8);
    const length = header.readUInt32BE(12);

    if (option === OPT_EXPORT_NAME) {
      if (length > MAX_NAME) throw new DisconnectedError(`export name of ${length} bytes`);
      const name = (await reader.read(length)).toString('utf8');
      const entry = exports.get(name);
      if (!entry) throw new DisconnectedError(`unknown export ${JSON.stringify(name)}`);
      const flags = transmissionFlagsOf(entry);
      const reply = Buffer.alloc(noZeroes ? 10 : 134);
      reply.writeBigUInt64BE(BigInt(entry.device.virtualSize), 0);
      reply.writeUInt16BE(flags, 8);
      await send([reply]);
      return {
        export: entry,
        structuredReplies,
        baseAllocation: structuredReplies && metaContextExport === name,
        blockSizeKnown: false,
        blockSizes: blockSizesOf(entry.device, context.maxPayload),
        transmissionFlags: flags,
      };
    }
    if (length > MAX_OPTION_DATA) {
      await reader.skip(length);
      await send(errorReply(option, REP_ERR_TOO_BIG, `option data of ${length} bytes is too long`));
      continue;
    }
    const data = new OptionData(length === 0 ? Buffer.alloc(0) : await reader.read(length));

    switch (option) {
      case OPT_ABORT:
        await send(optionReply(option, REP_ACK));
        return undefined;

      case OPT_LIST: {
        if (length !== 0) {
          await send(errorReply(option, REP_ERR_INVALID, 'LIST takes no data'));
          break;
        }
        const replies: Uint8Array[] = [];
        for (const name of exports.keys()) {
          const bytes = Buffer.from(name, 'utf8');
          const body = Buffer.alloc(4 + bytes.length);
          body.writeUInt32BE(bytes.length, 0);
          bytes.copy(body, 4);
          replies.push(...optionReply(option, REP_SERVER, body));
        }
        await send([...replies, ...optionReply(option, REP_ACK)]);
        break;
      }

      case OPT_STRUCTURED_REPLY:
        if (length !== 0) {
          await send(errorReply(option, REP_ERR_INVALID, 'STRUCTURED_REPLY takes no data'));
          break;
        }
        structuredReplies = true;
        await send(optionReply(option, REP_ACK));
        break;

      case OPT_INFO:
      case OPT_GO: {
        const request = parseInfoRequest(data);
        if (!request) {
          await send(errorReply(option, REP_ERR_INVALID, 'malformed INFO or GO request'));
          break;
        }
        const entry = exports.get(request.name);
        if (!entry) {
          await send(errorReply(option, REP_ERR_UNKNOWN, `export ${JSON.stringify(request.name)} not found`));
          break;
        }
        const flags = transmissionFlagsOf(entry);
        const blockSizes = blockSizesOf(entry.device, context.maxPayload);
        await send([...infoReplies(option, entry, request.infos, flags, blockSizes), ...optionReply(option, REP_ACK)]);
        if (option === OPT_GO) {
          return {
            export: entry,
            structuredReplies,
            baseAllocation: structuredReplies && metaContextExport === request.name,
            blockSizeKnown: request.infos.includes(INFO_BLOCK_SIZE),
            blockSizes,
            transmissionFlags: flags,
          };
        }
        break;
      }

      case OPT_LIST_META_CONTEXT:
      case OPT_SET_META_CONTEXT: {
        if (!structuredReplies) {
          await send(errorReply(option, REP_ERR_INVALID, 'structured replies were not negotiated'));
          break;
        }
        const request = parseMetaContextRequest(data);
        if (!request) {
          await send(errorReply(option, REP_ERR_INVALID, 'malformed meta context request'));
          break;
        }
        if (!exports.has(request.name)) {
          await send(errorReply(option, REP_ERR_UNKNOWN, `export ${JSON.stringify(request.name)} not found`));
          break;
        }
        let selected: boolean;
        if (option === OPT_SET_META_CONTEXT) {
          selected = request.queries.includes(BASE_ALLOCATION);
          // Each SET replaces what an earlier one selected.
          metaContextExport = selected ? request.name : undefined;
        } else {
          selected =
            request.queries.length === 0 || request.queries.some((q) => q === BASE_ALLOCATION || q === 'base:');
        }
        const replies: Uint8Array[] = [];
        if (selected) {
          const name = Buffer.from(BASE_ALLOCATION, 'ascii');
          const body = Buffer.alloc(4 + name.length);
          body.writeUInt32BE(option === OPT_SET_META_CONTEXT ? BASE_ALLOCATION_ID : 0, 0);
          name.copy(body, 4);
          replies.push(...optionReply(option, REP_META_CONTEXT, body));
        }
        await send([...replies, ...optionReply(option, REP_ACK)]);
        break;
      }

      default:
        // STARTTLS among them: this server has no TLS (the README says what that means).
        await send(errorReply(option, REP_ERR_UNSUP, `option ${option} is not supported`));
    }
  }
}

function parseInfoRequest(data: OptionData): { name: string; infos: number[] } | undefined {
  const nameLength = data.u32();
  if (nameLength === undefined || nameLength > MAX_NAME) return undefined;
  const name = data.string(nameLength);
  const count = data.u16();
  if (name === undefined || count === undefined || data.remaining !== 2 * count) return undefined;
  const infos: number[] = [];
  for (let i = 0; i < count; i++) infos.push(data.u16() as number);
  return { name, infos };
}

function parseMetaContextRequest(data: OptionData): { name: string; queries: string[] } | undefined {
  const nameLength = data.u32();
  if (nameLength === undefined || nameLength > MAX_NAME) return undefined;
  const name = data.string(nameLength);
  const count = data.u32();
  if (name === undefined || count === undefined || count > data.remaining / 4) return undefined;
  const queries: string[] = [];
  for (let i = 0; i < count; i++) {
    const length = data.u32();
    const query = length === undefined ? undefined : data.string(length);
    if (query === undefined) return undefined;
    queries.push(query);
  }
  return data.remaining === 0 ? { name, queries } : undefined;
}

function infoReplies(
  option: number,
  entry: NbdExport,
  requested: readonly number[],
  flags: number,
  sizes: BlockSizes,
): Uint8Array[] {
  const exportInfo = Buffer.alloc(12);
  exportInfo.writeUInt16BE(INFO_EXPORT, 0);
  exportInfo.writeBigUInt64BE(BigInt(entry.device.virtualSize), 2);
  exportInfo.writeUInt16BE(flags, 10);
  const replies = optionReply(option, REP_INFO, exportInfo);
  const text = (type: number, value: string) => {
    const bytes = Buffer.from(value, 'utf8');
    const body = Buffer.alloc(2 + bytes.length);
    body.writeUInt16BE(type, 0);
    bytes.copy(body, 2);
    replies.push(...optionReply(option, REP_INFO, body));
  };
  if (requested.includes(INFO_NAME)) text(INFO_NAME, entry.name);
  if (requested.includes(INFO_DESCRIPTION) && entry.description !== undefined) {
    text(INFO_DESCRIPTION, entry.description);
  }
  // Sent whether asked or not, as qemu-nbd does: a client that did not ask may still use it.
  const blockSize = Buffer.alloc(14);
  blockSize.writeUInt16BE(INFO_BLOCK_SIZE, 0);
  blockSize.writeUInt32BE(sizes.minimum, 2);
  blockSize.writeUInt32BE(sizes.preferred, 6);
  blockSize.writeUInt32BE(sizes.maximum, 10);
  replies.push(...optionReply(option, REP_INFO, blockSize));
  return replies;
}
