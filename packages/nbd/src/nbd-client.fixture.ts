/**
 * A bare NBD client for the tests: it speaks the protocol byte by byte over a raw socket,
 * so tests can send what no well-behaved client would (and check every byte of the replies).
 */
import { connect, type Socket } from 'node:net';
import * as P from './protocol.js';
import { SocketReader } from './socket-reader.js';

export interface OptionReply {
  option: number;
  type: number;
  data: Buffer;
}

export type Reply =
  | { kind: 'simple'; error: number; cookie: bigint; data?: Buffer }
  | { kind: 'chunk'; flags: number; type: number; cookie: bigint; payload: Buffer };

export class RawNbdClient {
  readonly socket: Socket;
  readonly reader: SocketReader;
  #nextCookie = 1n;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.reader = new SocketReader(socket, 64 * 1024 * 1024);
  }

  /** Connects to a Unix socket (a path) or a TCP port. */
  static connect(target: string | { host: string; port: number }): Promise<RawNbdClient> {
    return new Promise((resolve, reject) => {
      const options = typeof target === 'string' ? { path: target } : target;
      const socket = connect(options, () => resolve(new RawNbdClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Reads the greeting and sends the client flags. */
  async start(clientFlags = P.CLIENT_FIXED_NEWSTYLE | P.CLIENT_NO_ZEROES): Promise<number> {
    const greeting = await this.reader.read(18);
    if (greeting.readBigUInt64BE(0) !== P.NBDMAGIC || greeting.readBigUInt64BE(8) !== P.IHAVEOPT) {
      throw new Error('bad greeting');
    }
    this.send(u32(clientFlags));
    return greeting.readUInt16BE(16);
  }

  /** Writes the parts in order (without concatenating them: a big payload is not copied). */
  send(...parts: Uint8Array[]): void {
    this.socket.cork();
    for (const part of parts) if (part.length > 0) this.socket.write(part);
    this.socket.uncork();
  }

  sendOption(option: number, data: Uint8Array = Buffer.alloc(0), length = data.length): void {
    this.send(u64(P.IHAVEOPT), u32(option), u32(length), data);
  }

  async optionReply(): Promise<OptionReply> {
    const header = await this.reader.read(20);
    if (header.readBigUInt64BE(0) !== P.REPLY_MAGIC) throw new Error('bad option reply magic');
    const length = header.readUInt32BE(16);
    return {
      option: header.readUInt32BE(8),
      type: header.readUInt32BE(12),
      data: Buffer.from(await this.reader.read(length)),
    };
  }

  /** Option replies up to and including the final one (ACK or an error). */
  async optionReplies(): Promise<OptionReply[]> {
    const replies: OptionReply[] = [];
    for (;;) {
      const reply = await this.optionReply();
      replies.push(reply);
      if (reply.type === P.REP_ACK || reply.type >= 0x80000000) return replies;
    }
  }

  async option(option: number, data?: Uint8Array): Promise<OptionReply[]> {
    this.sendOption(option, data);
    return this.optionReplies();
  }

  /** Starts, negotiates structured replies and base:allocation when asked, then GO. */
  async handshake(
    options: { structured?: boolean; metaContext?: boolean; name?: string; blockSize?: boolean } = {},
  ): Promise<{ size: bigint; flags: number; blockSizes?: [number, number, number] }> {
    await this.start();
    const name = options.name ?? '';
    if (options.structured ?? true) await this.option(P.OPT_STRUCTURED_REPLY);
    if ((options.structured ?? true) && (options.metaContext ?? true)) {
      await this.option(P.OPT_SET_META_CONTEXT, metaContextData(name, [P.BASE_ALLOCATION]));
    }
    const replies = await this.option(P.OPT_GO, infoData(name, options.blockSize === false ? [] : [P.INFO_BLOCK_SIZE]));
    const last = replies[replies.length - 1] as OptionReply;
    if (last.type !== P.REP_ACK) throw new Error(`GO failed: 0x${last.type.toString(16)} ${last.data.toString()}`);
    let size = 0n;
    let flags = 0;
    let blockSizes: [number, number, number] | undefined;
    for (const reply of replies) {
      if (reply.type !== P.REP_INFO) continue;
      const type = reply.data.readUInt16BE(0);
      if (type === P.INFO_EXPORT) {
        size = reply.data.readBigUInt64BE(2);
        flags = reply.data.readUInt16BE(10);
      }
      if (type === P.INFO_BLOCK_SIZE) {
        blockSizes = [reply.data.readUInt32BE(2), reply.data.readUInt32BE(6), reply.data.readUInt32BE(10)];
      }
    }
    return { size, flags, blockSizes };
  }

  /** Sends a request (and its payload) and returns its cookie. */
  request(type: number, offset: bigint | number, length: number, flags = 0, payload?: Uint8Array): bigint {
    const cookie = this.#nextCookie++;
    const header = Buffer.alloc(28);
    header.writeUInt32BE(P.REQUEST_MAGIC, 0);
    header.writeUInt16BE(flags, 4);
    header.writeUInt16BE(type, 6);
    header.writeBigUInt64BE(cookie, 8);
    header.writeBigUInt64BE(BigInt(offset), 16);
    header.writeUInt32BE(length, 24);
    this.send(header, payload ?? Buffer.alloc(0));
    return cookie;
  }

  /** The next reply message: a simple reply (with `readLength` bytes of data on success) or one chunk. */
  async reply(readLength = 0): Promise<Reply> {
    const magic = (await this.reader.read(4)).readUInt32BE(0);
    if (magic === P.SIMPLE_REPLY_MAGIC) {
      const rest = await this.reader.read(12);
      const error = rest.readUInt32BE(0);
      const cookie = rest.readBigUInt64BE(4);
      const data = error === 0 && readLength > 0 ? Buffer.from(await this.reader.read(readLength)) : undefined;
      return { kind: 'simple', error, cookie, data };
    }
    if (magic === P.STRUCTURED_REPLY_MAGIC) {
      const rest = await this.reader.read(16);
      const length = rest.readUInt32BE(12);
      return {
        kind: 'chunk',
        flags: rest.readUInt16BE(0),
        type: rest.readUInt16BE(2),
        cookie: rest.readBigUInt64BE(4),
        payload: Buffer.from(await this.reader.read(length)),
      };
    }
    throw new Error(`bad reply magic 0x${magic.toString(16)}`);
  }

  /** All chunks of one structured reply, up to the one with DONE. */
  async chunks(): Promise<Extract<Reply, { kind: 'chunk' }>[]> {
    const chunks: Extract<Reply, { kind: 'chunk' }>[] = [];
    for (;;) {
      const reply = await this.reply();
      if (reply.kind !== 'chunk') throw new Error('expected a structured reply');
      chunks.push(reply);
      if (reply.flags & P.REPLY_FLAG_DONE) return chunks;
    }
  }

  /** The error value of a reply (simple, or an ERROR chunk), 0 for success. */
  static errorOf(reply: Reply): number {
    if (reply.kind === 'simple') return reply.error;
    return reply.type === P.REPLY_TYPE_ERROR ? reply.payload.readUInt32BE(0) : 0;
  }

  /** Resolves when the server has closed the connection. */
  closed(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed || this.socket.readableEnded) resolve();
      this.socket.once('close', () => resolve());
      this.socket.resume();
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export function u16(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(value, 0);
  return b;
}
export function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0, 0);
  return b;
}
export function u64(value: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(value, 0);
  return b;
}

export function infoData(name: string, infos: number[]): Buffer {
  const bytes = Buffer.from(name, 'utf8');
  return Buffer.concat([u32(bytes.length), bytes, u16(infos.length), ...infos.map(u16)]);
}

export function metaContextData(name: string, queries: string[]): Buffer {
  const bytes = Buffer.from(name, 'utf8');
  return Buffer.concat([
    u32(bytes.length),
    bytes,
    u32(queries.length),
    ...queries.flatMap((q) => [u32(Buffer.byteLength(q)), Buffer.from(q)]),
  ]);
}
