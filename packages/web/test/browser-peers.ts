/**
 * What the browser tests need: Debian's Chromium (driven by playwright-core, which
 * downloads no browser of its own), bximage to make the images, and the built CLI to
 * compare the page with. `describeBrowser` skips with a message naming what is missing,
 * or fails when VDISK_REQUIRE_INTEROP=1 (CI), like the interop suite's describeInterop.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { describe, it } from 'vitest';
import { peerPaths, REQUIRE_INTEROP, VDISK_BUNDLE } from '../../cli/test/interop/peers.js';

/** The browser: Debian's package, or VDISK_CHROMIUM. */
export const CHROMIUM = process.env.VDISK_CHROMIUM ?? '/usr/bin/chromium';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function missing(): string[] {
  const absent: string[] = [];
  if (!executable(CHROMIUM)) absent.push(`chromium (${CHROMIUM})`);
  if (peerPaths.bximage === undefined) absent.push('bximage');
  if (!existsSync(VDISK_BUNDLE)) absent.push(`the built CLI (${VDISK_BUNDLE}: run pnpm build)`);
  return absent;
}

const HINT = 'apt-get install -y chromium bximage';

export function describeBrowser(name: string, body: () => void): void {
  const absent = missing();
  if (absent.length === 0) {
    describe(name, body);
    return;
  }
  if (REQUIRE_INTEROP) {
    describe(name, () => {
      it('has chromium, bximage and the built CLI', () => {
        throw new Error(`VDISK_REQUIRE_INTEROP=1 but ${absent.join(', ')} missing: ${HINT}`);
      });
    });
    return;
  }
  console.warn(`[browser] skipping "${name}": missing ${absent.join(', ')} (${HINT})`);
  describe.skip(name, body);
}

/**
 * Headless Chromium with the flags CI wants: no network chatter, no first run. Playwright
 * gives it a fresh --user-data-dir of its own (a temporary profile, removed at close);
 * each test opens its own context, with its own viewport.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
};

/** Serves the built site from `root` on 127.0.0.1 (a secure context: the File System Access API works there). */
export async function serveStatic(root: string): Promise<{ server: Server; url: string }> {
  const server = createServer(async (request, response) => {
    const path = normalize(new URL(request.url ?? '/', 'http://host').pathname).replace(/\/$/, '/index.html');
    try {
      const body = await readFile(join(root, path));
      response.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' });
      response.end(body);
    } catch {
      response.writeHead(404);
      response.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return { server, url: `http://127.0.0.1:${address.port}/` };
}
