import { describe, expect, it } from 'vitest';
import { vdisk } from './vdisk-process.js';

const PLUGIN = new URL('./fixtures/tpf-plugin.mjs', import.meta.url).pathname;

describe('vdisk usage', () => {
  it('prints its version', async () => {
    expect(await vdisk(['--version'])).toEqual({ code: 0, stdout: '0.1.0\n', stderr: '' });
  });

  it('prints help listing the commands', async () => {
    const run = await vdisk(['--help']);
    expect(run.code).toBe(0);
    for (const command of ['probe', 'info', 'create', 'convert', 'io', 'formats'])
      expect(run.stdout).toContain(`  ${command}`);
  });

  it('reports usage errors on one line with exit 1', async () => {
    expect(await vdisk(['frobnicate'])).toEqual({
      code: 1,
      stdout: '',
      stderr: "vdisk: unknown command 'frobnicate'\n",
    });
    expect(await vdisk(['info'])).toEqual({ code: 1, stdout: '', stderr: "vdisk: missing required argument 'file'\n" });
    const bad = await vdisk(['probe', '--output=xml', 'x']);
    expect(bad.code).toBe(1);
    expect(bad.stderr.split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('lists the formats and the optional capabilities each driver has', async () => {
    const run = await vdisk(['formats', '--output=json']);
    expect(JSON.parse(run.stdout)).toEqual([
      {
        name: 'raw',
        description: expect.any(String),
        capabilities: ['probe', 'read', 'map', 'info', 'write', 'flush', 'create'],
      },
      {
        name: 'bochs',
        description: expect.any(String),
        capabilities: ['probe', 'read', 'map', 'info', 'check', 'write', 'flush', 'zero', 'discard', 'create'],
      },
      {
        name: 'bochs-sparse',
        description: expect.any(String),
        capabilities: ['probe', 'read', 'map', 'info', 'check', 'write', 'flush', 'create'],
      },
      {
        // No zero or discard: clearing a redolog's bit would show its base, so core writes zeros.
        name: 'bochs-redolog',
        description: expect.any(String),
        capabilities: ['probe', 'read', 'map', 'info', 'check', 'write', 'flush', 'create'],
      },
      {
        name: 'vpc',
        description: expect.any(String),
        capabilities: ['probe', 'read', 'map', 'write', 'flush', 'zero', 'create'],
      },
      {
        name: 'vdi',
        description: expect.any(String),
        capabilities: ['probe', 'read', 'map', 'check', 'write', 'flush', 'zero', 'create'],
      },
      {
        name: 'vmdk',
        description: expect.any(String),
        capabilities: ['probe', 'read', 'map', 'info', 'check', 'write', 'flush', 'zero', 'create'],
      },
    ]);
    const withPlugin = JSON.parse((await vdisk(['--plugin', PLUGIN, 'formats', '--output=json'])).stdout);
    expect(withPlugin[7]).toEqual({ name: 'tpf', description: expect.any(String), capabilities: ['probe', 'read'] });
    const human = await vdisk(['formats']);
    expect(human.stdout).toContain('bochs');
    expect(human.stdout).toContain('capabilities: probe, read, map, info, check, write, flush, zero, discard, create');
  });

  it('reports a plugin that cannot be loaded on one line', async () => {
    const run = await vdisk(['--plugin', './no-such-plugin.mjs', 'formats']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^vdisk: Cannot load plugin '\.\/no-such-plugin\.mjs': [^\n]*\n$/);
  });
});
