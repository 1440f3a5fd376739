// bin/berth: version information, the runtime verbs under `berth runtime`,
// and clear errors for what it does not know.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from './helpers/env.js';

const berth = (...args: string[]) => spawnSync(join(REPO, 'bin', 'berth'), args, { encoding: 'utf8' });

test('berth version names the version, the spec and the host', () => {
  const r = berth('version');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^berth version \d+\.\d+\.\d+\n OCI runtime spec: 1\.2\.0\n/);
  const j = JSON.parse(berth('version', '--format', 'json').stdout);
  assert.ok(['v1', 'v2', 'hybrid'].includes(j.cgroups));
  assert.match(j.executor, /berth-exec$/);
});

test('berth runtime is the runtime CLI', () => {
  assert.match(berth('runtime', '--version').stdout, /^berth-runtime version .*\nspec: 1\.2\.0/);
  const f = JSON.parse(berth('runtime', 'features').stdout);
  assert.equal(f.ociVersionMax, '1.2.0');
});

test('unknown verbs and formats are named in the error', () => {
  const r = berth('launch');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /unknown command 'launch'/);
  const f = berth('version', '--format', 'yaml');
  assert.equal(f.status, 1);
  assert.match(f.stderr, /--format: unknown format "yaml"/);
});
