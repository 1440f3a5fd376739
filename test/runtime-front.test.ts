// bin/berth-runtime's C front and the runtime server it keeps started
// (native/cli/runtime-front.c, src/cli/runtime-server.ts): commands are
// served by one warm server, a container's process still descends from the
// runtime's caller, and whenever the server cannot serve (busy, gone, other
// namespaces, rebuilt) the command runs on the Node CLI with the same result.
import { test, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, openSync, closeSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { TestEnv, sh, BERTH_RUNTIME, REPO, isRunning, runtimeServerPids, statFields } from './helpers/env.js';

const env = new TestEnv();
after(() => env.cleanup());

const sockets = process.env.BERTH_RUNTIME_SOCKET_DIR!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ppidOf = (pid: number) => Number(statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'))[1]);
const commOf = (pid: number) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();

const servers = () => runtimeServerPids(sockets);

/** A server is listening: started by a first command if none is. */
async function serverUp(): Promise<number> {
  for (let i = 0; i < 300; i++) {
    const [pid] = servers();
    if (pid !== undefined && readdirSync(sockets).some((f) => f.endsWith('.sock'))) return pid;
    if (i === 0) spawnSync(BERTH_RUNTIME, ['--version']);
    await sleep(20);
  }
  throw new Error('no runtime server started');
}

async function waitRunning(id: string): Promise<number> {
  for (let i = 0; i < 500; i++) {
    const r = env.runtime(['state', id]);
    if (r.status === 0 && JSON.parse(r.stdout).status === 'running') return JSON.parse(r.stdout).pid;
    await sleep(10);
  }
  throw new Error(`${id} never ran`);
}

/** `run` in the foreground, its front's pid and its output. */
function runForeground(args: string[], stdio: ('ignore' | 'pipe' | number)[] = ['ignore', 'pipe', 'pipe'], extraArgs: string[] = []) {
  const id = env.id();
  const p = spawn(BERTH_RUNTIME, ['--root', env.root, 'run', ...extraArgs, '-b', env.bundle(args), id], { stdio });
  let out = '';
  p.stdout?.on('data', (d) => { out += d; });
  p.stderr?.on('data', (d) => { out += d; });
  const code = new Promise<number | null>((res) => p.on('exit', (c, s) => res(c ?? (s ? -1 : null))));
  return { id, p, code, out: () => out };
}

describe('the runtime front and its server', () => {
  test('one server serves a whole life; the container descends from the front, as from runc', async () => {
    const server = await serverUp();
    const run = runForeground(sh('echo started; sleep 30'));
    const init = await waitRunning(run.id);
    // the front served it (a front that fell back would be node by now) and is an ancestor of the container's init
    assert.equal(commOf(run.p.pid!), 'berth-runtime-f');
    let up = init;
    while (up > 1 && up !== run.p.pid) up = ppidOf(up);
    assert.equal(up, run.p.pid, 'the init descends from the front');
    assert.equal(env.runtime(['kill', run.id, 'KILL']).status, 0);
    assert.equal(await run.code, 137);
    assert.match(run.out(), /^started\n$/);
    const id = env.id();
    for (const args of [['create', '-b', env.bundle(['sleep', '30']), id], ['start', id], ['exec', id, 'true'], ['kill', id, 'KILL'], ['delete', '-f', id]]) {
      const r = env.runtime(args);
      assert.equal(r.status, 0, `${args[0]}: ${r.stderr}`);
    }
    assert.deepEqual(servers(), [server], 'the same server throughout');
  });

  test('the Node CLI gives the same answers and exit codes', async () => {
    await serverUp();
    const both = (args: string[], input = '') => [undefined, '0'].map((off) => {
      const r = spawnSync(BERTH_RUNTIME, ['--root', env.root, ...args], { encoding: 'utf8', input, env: { ...process.env, BERTH_RUNTIME_SERVER: off } });
      return { code: r.status, out: r.stdout, err: r.stderr };
    });
    for (const args of [['--version'], ['state', 'no-such'], ['list', '-q'], ['frobnicate'], ['run', '-b', env.bundle(sh('cat; echo err >&2; exit 5')), 'front-same']]) {
      const [served, node] = both(args.map((a) => a === 'front-same' ? env.id() : a), 'through stdin\n');
      assert.deepEqual(served, node, args.join(' '));
    }
  });

  test('signals reach the container through the front; --preserve-fds passes the front\'s fds', async () => {
    await serverUp();
    const run = runForeground(sh('trap "echo got-term; exit 9" TERM; echo ready; while :; do sleep 0.05; done'));
    await waitRunning(run.id);
    for (let i = 0; i < 200 && !run.out().includes('ready'); i++) await sleep(10);
    run.p.kill('SIGTERM');
    assert.equal(await run.code, 9, run.out());
    assert.match(run.out(), /got-term/);

    const file = join(env.dir, 'passed');
    writeFileSync(file, 'fd three\n');
    const fd = openSync(file, 'r');
    try {
      const r = runForeground(sh('cat <&3'), ['ignore', 'pipe', 'pipe', fd], ['--preserve-fds', '1']);
      assert.equal(await r.code, 0, r.out());
      assert.equal(r.out(), 'fd three\n');
    } finally { closeSync(fd); }
  });

  test('busy, killed or in another mount namespace: the command runs on the Node CLI, and containers outlive the server', async () => {
    const server = await serverUp();
    const held = runForeground(['sleep', '30']);
    await waitRunning(held.id); // the server is busy with it: these fall back
    const id = env.id();
    assert.equal(env.runtime(['run', '-d', '-b', env.bundle(['sleep', '30']), id]).status, 0);
    assert.equal(JSON.parse(env.runtime(['state', id]).stdout).status, 'running');
    process.kill(server, 'SIGKILL');
    assert.equal(env.runtime(['kill', held.id, 'KILL']).status, 0);
    assert.equal(await held.code, 1, 'its server gone, the front ends once its container has, and says why');
    assert.match(held.out(), /berth-runtime: the process serving the command ended without an exit status/);
    assert.equal(JSON.parse(env.runtime(['state', id]).stdout).status, 'running', 'outlived the server');
    const next = await serverUp();
    assert.notEqual(next, server);
    assert.equal(env.runtime(['delete', '-f', id]).status, 0);
    // another mount namespace gets a server of its own: one never serves a front that sees other mounts
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `${BERTH_RUNTIME} --version >/dev/null; sleep 0.5; ${BERTH_RUNTIME} state no-such`], { encoding: 'utf8' });
    assert.match(r.stderr, /container "no-such" does not exist/);
    for (let i = 0; i < 200 && servers().length < 2; i++) await sleep(20);
    assert.equal(servers().length, 2);
  });

  test('a runtime built again: the old server refuses, stops, and the command runs', async () => {
    const server = await serverUp();
    const bundle = join(REPO, 'dist', 'berth-runtime.cjs');
    const st = statSync(bundle);
    utimesSync(bundle, st.atime, new Date(st.mtimeMs + 1000));
    try {
      const r = spawnSync(BERTH_RUNTIME, ['--root', env.root, 'state', 'no-such'], { encoding: 'utf8' });
      assert.match(r.stderr, /container "no-such" does not exist/);
      for (let i = 0; i < 200 && isRunning(server); i++) await sleep(20);
      assert.ok(!isRunning(server), 'the old server ended');
    } finally { utimesSync(bundle, st.atime, st.mtime); }
    assert.ok(existsSync(bundle));
  });
});
