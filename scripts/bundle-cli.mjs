// Bundles the built CLI (tsc's output) into packages/cli/dist/bundle/. Node loads one file
// much faster than inversify's many modules.
//
// vdisk.cjs, the `vdisk` command (bin.ts), is CommonJS: it sends `vdisk probe FILE...`
// (with `--output` at most) to fast-probe.cjs, and everything else to vdisk.mjs, the whole
// command line (cli.ts) as ES modules, with commands in separate chunks loaded on demand. Measured
// on Node 20 (`vdisk probe IMG` over `node -e ''`, medians of 40 interleaved runs): the
// ES module loader itself costs about 5 ms before the first module runs, each further
// chunk about 1 ms, and commander with every command built about 6 ms; the probe path was
// 12 chunks with commander. fast-probe.cjs is probe, core and the drivers in one CommonJS
// file, run with its V8 code cache (below): it adds about 10 ms to Node's start where that
// path added 40.
// It holds its own copy of the modules it needs: a process runs either it or vdisk.mjs,
// never both, so no class or state is ever seen twice.
//
// Beside the command, the bundle holds the modules a plugin may share (shared/core.mjs,
// shared/core-node.mjs, shared/inversify.mjs) and the resolution hooks that hand them to a
// plugin that has none of its own (plugin-hooks.mjs): the same chunks the CLI runs, so a
// plugin using them shares the CLI's very classes.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { build } from 'esbuild';

const path = (relative) => new URL(`../${relative}`, import.meta.url).pathname;
const outdir = path('packages/cli/dist/bundle/');

/**
 * Imports straight from the file that defines each name, not through a package's index.
 * esbuild splits chunks by file: a command that imports `Registry` from `@vdisk/core`
 * reaches the index, and through it every file the index re-exports, inversify's
 * container among them. Importing `Registry` from registry.js itself keeps `vdisk probe`
 * from loading inversify (about 15 ms of its start-up) unless a plugin needs it.
 */
const directImports = {
  name: 'direct-imports',
  setup(build) {
    const barrels = new Map();
    /** The index's `export { a, b as c } from './x.js'` lines: exported name → [file, name there]. */
    const barrelOf = async (file) => {
      if (!barrels.has(file)) {
        const names = new Map();
        const code = await readFile(file, 'utf8');
        for (const [, list, from] of code.matchAll(/export \{([^}]*)\} from '([^']+)';/g)) {
          const target = new URL(from, `file://${file}`).pathname;
          for (const item of list
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)) {
            const [local, exported = local] = item.split(/\s+as\s+/);
            names.set(exported, [target, local]);
          }
        }
        barrels.set(file, names);
      }
      return barrels.get(file);
    };
    build.onLoad({ filter: /[\\/]packages[\\/][^\\/]+[\\/]dist[\\/].*\.js$/ }, async (args) => {
      const resolveDir = dirname(args.path);
      let code = await readFile(args.path, 'utf8');
      for (const [statement, list, specifier] of [...code.matchAll(/import \{([^}]*)\} from '(@vdisk\/[^']+)';/g)]) {
        const resolved = await build.resolve(specifier, { kind: 'import-statement', resolveDir });
        if (resolved.errors.length > 0) continue;
        const barrel = await barrelOf(resolved.path);
        const byFile = new Map();
        let direct = true;
        for (const item of list
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)) {
          const [imported, local = imported] = item.split(/\s+as\s+/);
          const origin = barrel.get(imported);
          if (!origin) direct = false;
          else byFile.set(origin[0], [...(byFile.get(origin[0]) ?? []), `${origin[1]} as ${local}`]);
        }
        if (!direct) continue;
        const rewritten = [...byFile].map(
          ([file, names]) => `import { ${names.join(', ')} } from ${JSON.stringify(file)};`,
        );
        code = code.replace(statement, rewritten.join('\n'));
      }
      return { contents: code, loader: 'js', resolveDir };
    });
  },
};

await rm(outdir, { recursive: true, force: true });
await build({
  entryPoints: {
    vdisk: path('packages/cli/dist/cli.js'),
    'plugin-hooks': path('packages/cli/dist/plugin-hooks.js'),
    'shared/core': path('packages/core/dist/index.js'),
    'shared/core-node': path('packages/core/dist/node/index.js'),
    'shared/inversify': 'inversify',
  },
  // inversify resolves from the CLI's package, as the CLI's own imports of it do.
  absWorkingDir: path('packages/cli'),
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  plugins: [directImports],
  // commander and cli-progress are CommonJS: give the bundle a require for Node's built-ins.
  banner: {
    js: "import { createRequire as __vdiskCreateRequire } from 'node:module'; const require = __vdiskCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});

const commonJs = {
  absWorkingDir: path('packages/cli'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
};
await build({
  ...commonJs,
  entryPoints: [path('packages/cli/dist/fast-probe.js')],
  outfile: `${outdir}fast-probe.cjs`,
  plugins: [directImports],
});

// fast-probe's V8 code cache, made after a probe of examples/hello.bochs so that it holds
// the functions a probe runs, compiled: compiling the ~210 KB file costs ~4.5 ms of the
// probe's start, the cache saves ~4 ms of it. It is named by the hash of the source, as V8
// checks only the source's length (code-cache.ts), and holds only for this Node's V8:
// another's refuses it and compiles the source.
const fastProbe = `${outdir}fast-probe.cjs`;
const cacheName = `fast-probe.${createHash('sha256')
  .update(await readFile(fastProbe))
  .digest('hex')
  .slice(0, 16)}.v8-cache`;
const made = spawnSync(
  process.execPath,
  [
    '--input-type=module',
    '-e',
    `import { writeFileSync } from 'node:fs';
     import { requireWithCodeCache } from ${JSON.stringify(path('packages/cli/dist/code-cache.js'))};
     process.argv = [process.argv[0], ${JSON.stringify(`${outdir}vdisk.cjs`)}, 'probe', ${JSON.stringify(path('examples/hello.bochs'))}];
     const { script } = requireWithCodeCache(${JSON.stringify(fastProbe)}, undefined);
     process.on('exit', (code) => { if (code === 0) writeFileSync(${JSON.stringify(outdir + cacheName)}, script.createCachedData()); });`,
  ],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
if (made.status !== 0 || !existsSync(outdir + cacheName))
  throw new Error(`bundle: fast-probe's code cache: exit ${made.status}`);

/**
 * bin.ts's two imports, as the bundle's files: fast-probe run as CommonJS with its code
 * cache (a CommonJS file starts no ES module loader), the whole CLI by import() (an ES module).
 */
const binImports = {
  name: 'bin-imports',
  setup(build) {
    build.onLoad({ filter: /[\\/]packages[\\/]cli[\\/]dist[\\/]bin\.js$/ }, async (args) => {
      const code = await readFile(args.path, 'utf8');
      const fast = "import('./fast-probe.js')";
      if (!code.includes(fast) || !code.includes("import('./cli.js')")) {
        throw new Error(`${args.path}: its imports of fast-probe.js and cli.js are not where the bundle expects them`);
      }
      const run = `requireWithCodeCache(__vdiskJoin(__dirname, 'fast-probe.cjs'), __vdiskJoin(__dirname, ${JSON.stringify(cacheName)}))`;
      return {
        // The imports go after the #! line, which must stay the first.
        contents: code
          .replace(fast, run)
          .replace(
            /^(#!.*\n)?/,
            (hashbang) =>
              `${hashbang}import { join as __vdiskJoin } from 'node:path';\nimport { requireWithCodeCache } from './code-cache.js';\n`,
          ),
        loader: 'js',
        resolveDir: dirname(args.path),
      };
    });
    build.onResolve({ filter: /^\.\/cli\.js$/ }, () => ({ path: './vdisk.mjs', external: true }));
  },
};
await build({
  ...commonJs,
  entryPoints: [path('packages/cli/dist/bin.js')],
  outfile: `${outdir}vdisk.cjs`,
  plugins: [binImports],
});
await chmod(`${outdir}vdisk.cjs`, 0o755);
