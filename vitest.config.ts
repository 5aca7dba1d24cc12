import { defineConfig } from 'vitest/config';

// Tests run against the TypeScript sources (the "source" export condition), except the
// CLI tests, which spawn the built and bundled `vdisk` as a user would.
const conditions = ['source', 'import', 'module', 'node', 'default'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['source'] } },
  // Legacy decorators with metadata, as tsc compiles them (inversify's @multiInject).
  oxc: { decorator: { legacy: true, emitDecoratorMetadata: true } },
  test: {
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['packages/*/src/**/*.test.ts'] },
      },
      {
        extends: true,
        test: { name: 'cli', include: ['packages/cli/test/**/*.test.ts'], exclude: ['packages/cli/test/interop/**'] },
      },
      {
        extends: true,
        test: {
          name: 'interop',
          include: ['packages/cli/test/interop/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 600_000,
        },
      },
      {
        extends: true,
        // The web page in headless Chromium (packages/web/test/browser-peers.ts guards it).
        test: {
          name: 'browser',
          include: ['packages/web/test/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
