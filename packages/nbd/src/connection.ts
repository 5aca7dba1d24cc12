import type { Socket } from 'node:net';
import { exportStatus, type StatusRun } from './export-status.js';
import { BASE_ALLOCATION_ID, type Negotiated, negotiate } from './handshake.js';
import { InflightBudget } from './inflight-budget.js';
import { exportWritable, type NbdExport } from './nbd-device.js';
import {
  CMD_BLOCK_STATUS,
  CMD_CACHE,
  CMD_DISC,
  CMD_FLAG_DF,
  CMD_FLAG_FAST_ZERO,
  CMD_FLAG_FUA,
  CMD_FLAG_NO_HOLE,
  CMD_FLAG_REQ_ONE,
  CMD_FLUSH,
  CMD_READ,
  CMD_TRIM,
  CMD_WRITE,
  CMD_WRITE_ZEROES,
  COMMAND_NAMES,
  ERROR_NAMES,
  NBD_EINVAL,
  NBD_ENOSPC,
  NBD_EOVERFLOW,
  NBD_EPERM,
  REPLY_FLAG_DONE,
  REPLY_TYPE_BLOCK_STATUS,
  REPLY_TYPE_ERROR,
  REPLY_TYPE_NONE,
  REPLY_TYPE_OFFSET_DATA,
  REPLY_TYPE_OFFSET_HOLE,
  REQUEST_HEADER_SIZE,
  REQUEST_MAGIC,
  SIMPLE_REPLY_HEADER_SIZE,
  SIMPLE_REPLY_MAGIC,
  STATE_HOLE,
  STATE_ZERO,
  STRUCTURED_HEADER_SIZE,
  STRUCTURED_REPLY_MAGIC,
} from './protocol.js';
import { errorMessage, invalid, nbdErrorOf, RequestError } from './reply-error.js';
import { DisconnectedError, SocketReader } from './socket-reader.js';

export interface ConnectionOptions {
  exports: ReadonlyMap<string, NbdExport>;
  maxPayload: number;
  maxRequestsInFlight: number;
  maxBytesInFlight: number;
  /** A client that has not finished the handshake by then is dropped (qemu-nbd's handshake limit). */
  handshakeTimeout: number;
  /** After `stop`, how long a client has to take its last replies before its socket is cut. */
  stopTimeout: number;
  /** One line per connection (and per request with `debug`). */
  log?: (line: string) => void;
  debug: boolean;
}

interface Request {
  flags: number;
  type: number;
  /** The cookie (handle), echoed as is. */
  cookie: Buffer;
  /** The offset as sent: a u64, so it can lie past 2^53. */
  offset: bigint;
  length: number;
}

/** Every flag this server knows; another bit is EINVAL. */
const KNOWN_COMMAND_FLAGS = CMD_FLAG_FUA | CMD_FLAG_NO_HOLE | CMD_FLAG_DF | CMD_FLAG_REQ_ONE | CMD_FLAG_FAST_ZERO;
/** BLOCK_STATUS answers at most this many descriptors at once (512 KiB); the client asks again for the rest. */
const MAX_DESCRIPTORS = 65536;
/** A BLOCK_STATUS without REQ_ONE looks at most this far (the default window of core's allocationMap). */
const STATUS_WINDOW = 64 * 1024 * 1024;
/** With REQ_ONE the window starts here and doubles until the first run ends inside it. */
const FIRST_RUN_WINDOW = 1024 * 1024;
/** A descriptor's length is a u32; longer runs are split at a multiple of any minimum block size. */
const MAX_DESCRIPTOR_LENGTH = 0xffff_0000;
/** What the budget charges a request without a payload: its reply is small. */
const SMALL_REQUEST_COST = 0;
/** Replies queued on the socket beyond this make the loop wait for 'drain' before reading more. */
const WRITE_HIGH_WATER = 4 * 1024 * 1024;

/**
 * One client, from the greeting to the last reply. Requests are read in order and
 * served concurrently (the device serializes what must be), within an in-flight budget;
 * replies go out whole, in the order requests finish.
 */
export class NbdConnection {
  readonly id: number;
  readonly peer: string;
  readonly #socket: Socket;
  readonly #reader: SocketReader;
  readonly #options: ConnectionOptions;
  readonly #budget: InflightBudget;
  #negotiated: Negotiated | undefined;
  #stopping = false;
  #requests = 0;
  #bytesRead = 0;
  #bytesWritten = 0;
  #errors = 0;
  readonly done: Promise<void>;

  constructor(id: number, socket: Socket, options: ConnectionOptions) {
    this.id = id;
    this.#socket = socket;
    this.#options = options;
    this.peer = socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : 'unix socket';
    this.#reader = new SocketReader(socket);
    this.#budget = new InflightBudget(options.maxRequestsInFlight, options.maxBytesInFlight);
    socket.setNoDelay?.(true);
    this.done = this.#run();
  }

  /**
   * Stops the connection: no new request is read, requests in flight finish and are
   * answered, then the socket closes. During the handshake the socket closes at once.
   */
  stop(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#reader.end(new DisconnectedError('The server is shutting down'));
    // Requests in flight finish on the device whatever happens; only their replies need
    // the client, and one that does not read them must not hold the server up for ever.
    setTimeout(() => this.#socket.destroy(), this.#options.stopTimeout).unref();
  }

  async #run(): Promise<void> {
    let outcome = 'closed by the client';
    const timer = setTimeout(() => {
      this.#reader.end(new DisconnectedError(`no handshake within ${this.#options.handshakeTimeout / 1000} s`));
    }, this.#options.handshakeTimeout);
    try {
      const negotiated = await negotiate({
        reader: this.#reader,
        send: (buffers) => this.#send(buffers),
        exports: this.#options.exports,
        maxPayload: this.#options.maxPayload,
      });
      clearTimeout(timer);
      if (!negotiated) {
        outcome = 'aborted the handshake';
      } else {
        this.#negotiated = negotiated;
        outcome = await this.#transmit(negotiated);
      }
    } catch (error) {
      outcome = this.#stopping ? 'closed by the server' : `dropped: ${errorMessage(error)}`;
    } finally {
      clearTimeout(timer);
    }
    await this.#budget.idle();
    await new Promise<void>((resolve) => {
      if (this.#socket.destroyed) resolve();
      else this.#socket.end(resolve);
      setTimeout(() => {
        this.#socket.destroy();
        resolve();
      }, 1000).unref();
    });
    this.#log(outcome);
  }

  #log(outcome: string): void {
    const log = this.#options.log;
    if (!log) return;
    const n = this.#negotiated;
    const what = n
      ? `export ${JSON.stringify(n.export.name)} ${exportWritable(n.export) ? 'read-write' : 'read-only'}, ` +
        `${this.#requests} requests, ${this.#bytesRead} bytes read, ${this.#bytesWritten} bytes written` +
        (this.#errors ? `, ${this.#errors} errors` : '')
      : 'no export';
    log(`connection ${this.id} from ${this.peer}: ${what}; ${outcome}`);
  }

  /** The request loop. Resolves with how it ended. */
  async #transmit(n: Negotiated): Promise<string> {
    const { maxPayload } = this.#options;
    for (;;) {
      if (this.#socket.writableLength > WRITE_HIGH_WATER && !this.#socket.destroyed) {
        // The client does not read its replies: stop reading its requests until it does.
        await new Promise<void>((resolve) => {
          const done = () => {
            this.#socket.off('drain', done);
            this.#socket.off('close', done);
            resolve();
          };
          this.#socket.on('drain', done);
          this.#socket.on('close', done);
        });
      }
      const header = await this.#reader.read(REQUEST_HEADER_SIZE);
      if (header.readUInt32BE(0) !== REQUEST_MAGIC) {
        throw new DisconnectedError(`bad request magic 0x${header.readUInt32BE(0).toString(16)}`);
      }
      const request: Request = {
        flags: header.readUInt16BE(4),
        type: header.readUInt16BE(6),
        cookie: Buffer.from(header.subarray(8, 16)),
        offset: header.readBigUInt64BE(16),
        length: header.readUInt32BE(24),
      };
      this.#requests += 1;
      if (request.type === CMD_DISC) return 'disconnected (DISC)';

      const refusal = this.#validate(n, request);
      if (request.type === CMD_WRITE && (refusal || request.length > maxPayload)) {
        // The payload must be consumed to stay in step with the client; it is skipped, never held.
        await this.#reader.skip(request.length);
      }
      if (refusal) {
        await this.#budget.acquire(SMALL_REQUEST_COST);
        this.#finish(request, this.#sendError(n, request, refusal), SMALL_REQUEST_COST);
        continue;
      }
      const cost = request.type === CMD_READ || request.type === CMD_WRITE ? request.length : SMALL_REQUEST_COST;
      await this.#budget.acquire(cost);
      let payload: Buffer | undefined;
      if (request.type === CMD_WRITE) {
        try {
          payload = await this.#reader.read(request.length);
        } catch (error) {
          this.#budget.release(cost);
          throw error;
        }
      }
      this.#finish(request, this.#serve(n, request, payload), cost);
    }
  }

  /** Releases the budget when the request's reply has been handed to the socket. */
  #finish(request: Request, work: Promise<void>, cost: number): void {
    work
      .catch((error: unknown) => {
        // Only the reply's own sending can fail here (the socket went away).
        if (this.#options.debug) this.#debugLine(request, `reply not sent: ${errorMessage(error)}`);
      })
      .finally(() => this.#budget.release(cost));
  }

  /** The error the protocol names for a request the server refuses without asking the device, if any. */
  #validate(n: Negotiated, request: Request): RequestError | undefined {
    const { type, flags, offset, length } = request;
    const size = BigInt(n.export.device.virtualSize);
    const writes = type === CMD_WRITE || type === CMD_WRITE_ZEROES || type === CMD_TRIM;
    if (!(type in COMMAND_NAMES) || type === CMD_CACHE) return invalid(`unknown command ${type}`);
    if ((flags & ~KNOWN_COMMAND_FLAGS) !== 0) return invalid(`unknown command flags 0x${flags.toString(16)}`);
    if ((flags & CMD_FLAG_DF) !== 0 && (type !== CMD_READ || !n.structuredReplies)) {
      return invalid('DF is for reads with structured replies');
    }
    if ((flags & CMD_FLAG_REQ_ONE) !== 0 && type !== CMD_BLOCK_STATUS) return invalid('REQ_ONE is for BLOCK_STATUS');
    if ((flags & CMD_FLAG_FAST_ZERO) !== 0) return invalid('FAST_ZERO is not supported');
    if ((type === CMD_READ || type === CMD_WRITE) && length > this.#options.maxPayload) {
      return new RequestError(
        n.structuredReplies ? NBD_EOVERFLOW : NBD_EINVAL,
        `request of ${length} bytes is longer than the maximum payload (${this.#options.maxPayload})`,
      );
    }
    if (writes && !exportWritable(n.export)) return new RequestError(NBD_EPERM, 'the export is read-only');
    if (type === CMD_FLUSH) return undefined;
    if (offset > size || BigInt(length) > size - offset) {
      // qemu-nbd's choice: ENOSPC for what would write past the end, EINVAL otherwise.
      return new RequestError(
        type === CMD_WRITE || type === CMD_WRITE_ZEROES ? NBD_ENOSPC : NBD_EINVAL,
        `request of ${length} bytes at offset ${offset} is beyond the end of the export (${size} bytes)`,
      );
    }
    if (n.blockSizeKnown) {
      const minimum = BigInt(n.blockSizes.minimum);
      if (offset % minimum !== 0n || BigInt(length) % minimum !== 0n) {
        return invalid(`request is not aligned to the minimum block size (${minimum})`);
      }
    }
    if (type === CMD_BLOCK_STATUS) {
      if (!n.baseAllocation) return invalid('no metadata context was negotiated');
      if (length === 0) return invalid('BLOCK_STATUS of length 0');
    }
    return undefined;
  }

  async #serve(n: Negotiated, request: Request, payload: Buffer | undefined): Promise<void> {
    const device = n.export.device;
    const offset = Number(request.offset); // exact: validated to lie within the export
    const { length, flags } = request;
    const fua = (flags & CMD_FLAG_FUA) !== 0;
    let reply: Uint8Array[];
    try {
      switch (request.type) {
        case CMD_READ:
          reply = await this.#read(n, request, offset);
          this.#bytesRead += length;
          break;
        case CMD_WRITE:
          await (device.write as NonNullable<typeof device.write>).call(device, offset, payload as Buffer, { fua });
          this.#bytesWritten += length;
          reply = simpleReply(request, 0);
          break;
        case CMD_FLUSH:
          await device.flush?.();
          reply = simpleReply(request, 0);
          break;
        case CMD_TRIM:
          if (length > 0) {
            if (device.discard) await device.discard(offset, length);
            else await zeroesOf(device)(offset, length, { mayUnmap: true });
            if (fua) await device.flush?.();
          }
          reply = simpleReply(request, 0);
          break;
        case CMD_WRITE_ZEROES:
          if (length > 0) {
            await zeroesOf(device)(offset, length, { mayUnmap: (flags & CMD_FLAG_NO_HOLE) === 0 });
            if (fua) await device.flush?.();
          }
          reply = simpleReply(request, 0);
          break;
        case CMD_BLOCK_STATUS:
          reply = await this.#blockStatus(n, request, offset);
          break;
        default:
          throw invalid(`unknown command ${request.type}`);
      }
    } catch (error) {
      const refusal = error instanceof RequestError ? error : new RequestError(nbdErrorOf(error), errorMessage(error));
      return this.#sendError(n, request, refusal);
    }
    if (this.#options.debug) this.#debugLine(request, 'ok');
    await this.#send(reply);
  }

  /** A READ's reply: one simple reply, or structured chunks with holes left out. */
  async #read(n: Negotiated, request: Request, offset: number): Promise<Uint8Array[]> {
    const device = n.export.device;
    const { length } = request;
    if (length === 0) {
      // Nothing to send: OFFSET_DATA must carry at least one byte.
      return n.structuredReplies
        ? [chunkHeader(request, REPLY_FLAG_DONE, REPLY_TYPE_NONE, 0)]
        : simpleReply(request, 0);
    }
    const buffer = Buffer.allocUnsafe(length);
    if (!n.structuredReplies) {
      await device.readInto(buffer, offset);
      return [...simpleReply(request, 0), buffer];
    }
    // Structured: holes become OFFSET_HOLE chunks (as qemu-nbd's sparse reads), unless DF.
    const sparse = (request.flags & CMD_FLAG_DF) === 0;
    const runs = sparse
      ? (await exportStatus(device, offset, length, false)).map((run) => ({ ...run, data: !run.zero }))
      : [{ offset, length, data: true }];
    await Promise.all(
      runs
        .filter((run) => run.data)
        .map((run) =>
          device.readInto(buffer.subarray(run.offset - offset, run.offset - offset + run.length), run.offset),
        ),
    );
    const chunks: Uint8Array[] = [];
    runs.forEach((run, i) => {
      const done = i === runs.length - 1 ? REPLY_FLAG_DONE : 0;
      if (run.data) {
        const head = chunkHeader(request, done, REPLY_TYPE_OFFSET_DATA, 8 + run.length);
        const at = Buffer.alloc(8);
        at.writeBigUInt64BE(BigInt(run.offset), 0);
        chunks.push(head, at, buffer.subarray(run.offset - offset, run.offset - offset + run.length));
      } else {
        const head = chunkHeader(request, done, REPLY_TYPE_OFFSET_HOLE, 12);
        const body = Buffer.alloc(12);
        body.writeBigUInt64BE(BigInt(run.offset), 0);
        body.writeUInt32BE(run.length, 8);
        chunks.push(head, body);
      }
    });
    return chunks;
  }

  /** BLOCK_STATUS for base:allocation: HOLE|ZERO where nothing is allocated, ZERO for allocated zeros, 0 for data. */
  async #blockStatus(n: Negotiated, request: Request, offset: number): Promise<Uint8Array[]> {
    const device = n.export.device;
    const reqOne = (request.flags & CMD_FLAG_REQ_ONE) !== 0;
    const end = offset + request.length;
    const statusOf = async (window: number) =>
      toDescriptors(await exportStatus(device, offset, Math.min(window, end - offset), true));
    let descriptors: { length: number; flags: number }[];
    if (reqOne) {
      // qemu-img map asks for one run over the rest of the disk each time: look only as
      // far as that run goes, so a walk over a fragmented disk stays linear.
      let window = FIRST_RUN_WINDOW;
      for (;;) {
        descriptors = await statusOf(window);
        const first = descriptors[0];
        if (!first || first.length < Math.min(window, end - offset) || window >= end - offset) break;
        window *= 2;
      }
      descriptors = descriptors.slice(0, 1);
    } else {
      descriptors = (await statusOf(STATUS_WINDOW)).slice(0, MAX_DESCRIPTORS);
    }
    const body = Buffer.alloc(4 + 8 * descriptors.length);
    body.writeUInt32BE(BASE_ALLOCATION_ID, 0);
    descriptors.forEach((descriptor, i) => {
      body.writeUInt32BE(descriptor.length, 4 + 8 * i);
      body.writeUInt32BE(descriptor.flags, 8 + 8 * i);
    });
    return [chunkHeader(request, REPLY_FLAG_DONE, REPLY_TYPE_BLOCK_STATUS, body.length), body];
  }

  #sendError(n: Negotiated, request: Request, error: RequestError): Promise<void> {
    this.#errors += 1;
    if (this.#options.debug) {
      this.#debugLine(request, `${ERROR_NAMES[error.nbdError] ?? error.nbdError}: ${error.message}`);
    }
    if (!n.structuredReplies) return this.#send(simpleReply(request, error.nbdError));
    // After qemu-nbd: with structured replies, errors are ERROR chunks with a message.
    const message = Buffer.from(error.message, 'utf8').subarray(0, 4096);
    const body = Buffer.alloc(6 + message.length);
    body.writeUInt32BE(error.nbdError, 0);
    body.writeUInt16BE(message.length, 4);
    message.copy(body, 6);
    return this.#send([chunkHeader(request, REPLY_FLAG_DONE, REPLY_TYPE_ERROR, body.length), body]);
  }

  #debugLine(request: Request, outcome: string): void {
    this.#options.log?.(
      `connection ${this.id}: ${COMMAND_NAMES[request.type] ?? `command ${request.type}`} ` +
        `offset ${request.offset} length ${request.length}${request.flags ? ` flags 0x${request.flags.toString(16)}` : ''}: ${outcome}`,
    );
  }

  /** Writes one whole message (corked: one writev) and resolves when the socket took it. */
  #send(buffers: readonly Uint8Array[]): Promise<void> {
    const socket = this.#socket;
    if (socket.destroyed || !socket.writable) return Promise.reject(new DisconnectedError('The connection is closed'));
    return new Promise((resolve, reject) => {
      socket.cork();
      buffers.forEach((buffer, i) => {
        if (i < buffers.length - 1) socket.write(buffer);
        else socket.write(buffer, (error) => (error ? reject(error) : resolve()));
      });
      socket.uncork();
    });
  }
}

function zeroesOf(device: NbdExport['device']) {
  return async (offset: number, length: number, options: { mayUnmap: boolean }): Promise<void> => {
    if (device.writeZeroes) return device.writeZeroes(offset, length, options);
    // A device without writeZeroes gets zeros written in bounded pieces.
    const piece = new Uint8Array(Math.min(length, 1024 * 1024));
    const write = device.write as NonNullable<typeof device.write>;
    for (let at = offset; at < offset + length; at += piece.length) {
      await write.call(device, at, piece.subarray(0, Math.min(piece.length, offset + length - at)));
    }
  };
}

function simpleReply(request: Request, error: number): Uint8Array[] {
  const header = Buffer.alloc(SIMPLE_REPLY_HEADER_SIZE);
  header.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
  header.writeUInt32BE(error, 4);
  request.cookie.copy(header, 8);
  return [header];
}

function chunkHeader(request: Request, flags: number, type: number, length: number): Buffer {
  const header = Buffer.alloc(STRUCTURED_HEADER_SIZE);
  header.writeUInt32BE(STRUCTURED_REPLY_MAGIC, 0);
  header.writeUInt16BE(flags, 4);
  header.writeUInt16BE(type, 6);
  request.cookie.copy(header, 8);
  header.writeUInt32BE(length, 16);
  return header;
}

function toDescriptors(runs: readonly StatusRun[]): { length: number; flags: number }[] {
  const descriptors: { length: number; flags: number }[] = [];
  for (const run of runs) {
    const flags = (run.hole ? STATE_HOLE : 0) | (run.zero ? STATE_ZERO : 0);
    let remaining = run.length;
    while (remaining > 0) {
      const length = Math.min(remaining, MAX_DESCRIPTOR_LENGTH);
      descriptors.push({ length, flags });
      remaining -= length;
    }
  }
  return descriptors;
}
