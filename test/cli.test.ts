// bin/berth: version information, the runtime verbs under `berth runtime`,
// clear errors for what it does not know, and starting berthd on first use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { PREFIX, REPO, pidsWhere, statFields } from './helpers/env.js';
import { execRootOf } from '../src/cli/client.js';

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

test('the CLI starts berthd for a data root on first use: once for parallel first uses, in its own session, holding none of the CLI\'s descriptors', async () => {
  const root = mkdtempSync(join(tmpdir(), `${PREFIX}-autostart-`));
  try {
    // four first uses at once, each with a descriptor (251) it inherited without close-on-exec
    const runs = await Promise.all(Array.from({ length: 4 }, () => new Promise<number | null>((res) => {
      const c = spawn('bash', ['-c', `exec 251>${join(root, 'held')}; exec ${join(REPO, 'bin', 'berth')} --data-root ${root}/data ps -q`], { stdio: 'ignore' });
      c.on('exit', res);
    })));
    assert.deepEqual(runs, [0, 0, 0, 0]);
    const daemonsNow = () => pidsWhere((read) => read('cmdline').includes(`berthd\0--data-root\0${root}/data`));
    let daemons = daemonsNow();
    // the ones that lost the data root's lock are on their way out
    for (let i = 0; i < 100 && daemons.length > 1; i++) { await new Promise((r) => setTimeout(r, 50)); daemons = daemonsNow(); }
    assert.equal(daemons.length, 1, 'one berthd serves the data root');
    const pid = daemons[0]!;
    assert.equal(statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'))[3], String(pid), 'it leads its own session');
    const held = readdirSync(`/proc/${pid}/fd`).filter((fd) => { try { return readlinkSync(`/proc/${pid}/fd/${fd}`) === join(root, 'held'); } catch { return false; } });
    assert.deepEqual(held, []);
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 50));
  } finally {
    rmSync(execRootOf(join(root, 'data')), { recursive: true, force: true }); // the exec root the CLI gave that berthd
    rmSync(root, { recursive: true, force: true });
  }
});
