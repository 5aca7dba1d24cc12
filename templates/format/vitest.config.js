import { defineConfig } from 'vitest/config';

// The plugin's own test setup: nothing vdisk-specific is needed to run the conformance suite.
export default defineConfig({ test: { include: ['test/**/*.test.js'] } });
