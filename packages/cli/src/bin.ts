#!/usr/bin/env node
import { plainProbe } from './plain-probe.js';

/**
 * vdisk's entry. `vdisk probe FILE...` (with `--output` at most) runs fast-probe, the rest
 * the whole command line (cli.ts). In the bundle this file is CommonJS and loads
 * fast-probe with require, so that a plain probe never starts Node's ES module loader (see
 * scripts/bundle-cli.mjs).
 */
if (plainProbe(process.argv.slice(2))) void import('./fast-probe.js');
else void import('./cli.js');
