import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { RawNbdClient } from './nbd-client.fixture.js';
import type { NbdExport } from './nbd-device.js';
import { createNbdServer, type NbdServer, type NbdServerOptions } from './server.js';

export interface TestServer {
  server: NbdServer;
  path: string;
  log: string[];
  client(): Promise<RawNbdClient>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A server on a Unix socket in a fresh directory, closed after the test. */
export async function startServer(
  exports: NbdExport[],
  options: Omit<NbdServerOptions, 'exports'> = {},
): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'vdisk-nbd-'));
  const path = join(dir, 'nbd.sock');
  const log: string[] = [];
  const server = createNbdServer({ exports, log: (line) => log.push(line), ...options });
  await server.listen({ path });
  const clients: RawNbdClient[] = [];
  cleanups.push(async () => {
    for (const client of clients) client.destroy();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    server,
    path,
    log,
    client: async () => {
      const client = await RawNbdClient.connect(path);
      clients.push(client);
      return client;
    },
  };
}
