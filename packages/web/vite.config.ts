import { defineConfig } from 'vite';

// A static site: relative asset paths, so dist/ works from any folder or subpath. The
// workspace packages are used as tsc built them (their dist/), decorators compiled.
export default defineConfig({
  root: import.meta.dirname,
  base: './',
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', reportCompressedSize: false },
  // The check runs in a module worker (check-worker.ts), which imports the registry.
  worker: { format: 'es' },
});
