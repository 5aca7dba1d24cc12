import { createServer, type ListenOptions, type Server, type Socket } from 'node:net';
import { InvalidArgumentError } from '@vdisk/core';
import { DEFAULT_MAX_PAYLOAD } from './block-sizes.js';
import { NbdConnection } from './connection.js';
import type { NbdExport } from './nbd-device.js';

export interface NbdServerOptions {
  /** The exports, by name; the empty name is the default export (what `nbd://host/` asks for). */
  exports: readonly NbdExport[];
  /** The largest READ or WRITE a client may send (NBD_INFO_BLOCK_SIZE's maximum). Default 32 MiB. */
  maxPayload?: number;
  /** Requests a connection may have in flight; default 16, as qemu-nbd. */
  maxRequestsInFlight?: number;
  /** Bytes of READ and WRITE payloads a connection may have in flight; default twice `maxPayload`. */
  maxBytesInFlight?: number;
  /** Milliseconds a client has to finish the handshake before it is dropped; default 10 s, as qemu-nbd. */
  handshakeTimeout?: number;
  /** Milliseconds `close()` lets a client take its last replies before cutting it off; default 5 s. */
  stopTimeout?: number;
  /** Receives one line per connection when it ends, and with `debug` one per request. */
  log?: (line: string) => void;
  debug?: boolean;
}

/**
 * An NBD server (fixed newstyle) for block devices. It has no TLS and no authentication:
 * whoever can connect can read, and write unless the export is read-only. Listen on
 * loopback or a Unix socket unless the network is trusted.
 */
export class NbdServer {
  readonly #server: Server;
  readonly #exports: Map<string, NbdExport>;
  readonly #options: Required<Omit<NbdServerOptions, 'exports' | 'log'>> & Pick<NbdServerOptions, 'log'>;
  readonly #connections = new Set<NbdConnection>();
  #nextId = 1;
  #closing: Promise<void> | undefined;

  constructor(options: NbdServerOptions) {
    this.#exports = new Map();
    for (const entry of options.exports) {
      if (this.#exports.has(entry.name)) {
        throw new InvalidArgumentError(`Two exports are named ${JSON.stringify(entry.name)}`);
      }
      if (Buffer.byteLength(entry.name, 'utf8') > 4096) {
        throw new InvalidArgumentError('An export name is longer than 4096 bytes');
      }
      this.#exports.set(entry.name, entry);
    }
    const maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    if (!Number.isSafeInteger(maxPayload) || maxPayload < 4096 || maxPayload > 0xffff_ffff) {
      throw new InvalidArgumentError(`Maximum payload ${maxPayload} is not between 4096 and 2^32-1`);
    }
    const maxRequestsInFlight = options.maxRequestsInFlight ?? 16;
    const maxBytesInFlight = options.maxBytesInFlight ?? 2 * maxPayload;
    if (!Number.isSafeInteger(maxRequestsInFlight) || maxRequestsInFlight < 1) {
      throw new InvalidArgumentError(`Requests in flight ${maxRequestsInFlight} is not a positive integer`);
    }
    if (!Number.isSafeInteger(maxBytesInFlight) || maxBytesInFlight < maxPayload) {
      throw new InvalidArgumentError(`Bytes in flight ${maxBytesInFlight} is less than the maximum payload`);
    }
    const handshakeTimeout = options.handshakeTimeout ?? 10_000;
    if (!Number.isSafeInteger(handshakeTimeout) || handshakeTimeout < 1) {
      throw new InvalidArgumentError(`Handshake timeout ${handshakeTimeout} is not a positive integer`);
    }
    const stopTimeout = options.stopTimeout ?? 5000;
    if (!Number.isSafeInteger(stopTimeout) || stopTimeout < 0) {
      throw new InvalidArgumentError(`Stop timeout ${stopTimeout} is not a non-negative integer`);
    }
    this.#options = {
      handshakeTimeout,
      stopTimeout,
      maxPayload,
      maxRequestsInFlight,
      maxBytesInFlight,
      log: options.log,
      debug: options.debug ?? false,
    };
    this.#server = createServer({ noDelay: true }, (socket) => this.handleConnection(socket));
  }

  /** Connections being served now. */
  get connections(): number {
    return this.#connections.size;
  }

  /** Listens, as `net.Server.listen` (`{ port, host }` or `{ path }`), and resolves once listening. */
  listen(options: ListenOptions): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.#server.once('error', onError);
      this.#server.listen(options, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
  }

  /** Where the server listens: `{ address, port }` for TCP, the path for a Unix socket. */
  address(): ReturnType<Server['address']> {
    return this.#server.address();
  }

  /** Serves a socket the embedder accepted itself (a `net.Socket`, e.g. from its own listener). */
  handleConnection(socket: Socket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    const connection = new NbdConnection(this.#nextId++, socket, {
      exports: this.#exports,
      maxPayload: this.#options.maxPayload,
      maxRequestsInFlight: this.#options.maxRequestsInFlight,
      maxBytesInFlight: this.#options.maxBytesInFlight,
      handshakeTimeout: this.#options.handshakeTimeout,
      stopTimeout: this.#options.stopTimeout,
      log: this.#options.log,
      debug: this.#options.debug,
    });
    this.#connections.add(connection);
    void connection.done.finally(() => this.#connections.delete(connection));
  }

  /**
   * Stops: no new connection is accepted, no new request read; requests in flight finish
   * and are answered, then every socket closes. The devices stay open: they are the
   * embedder's, to flush and close.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      for (const connection of this.#connections) connection.stop();
      await Promise.all([...this.#connections].map((connection) => connection.done));
      if (this.#server.listening) await closed;
    })();
    return this.#closing;
  }
}

/** `new NbdServer(options)`: a server for these exports, not yet listening. */
export function createNbdServer(options: NbdServerOptions): NbdServer {
  return new NbdServer(options);
}
