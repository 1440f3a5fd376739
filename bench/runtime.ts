// Runtime benchmark: a busybox `true` bundle through create, start, wait and
// delete. berth's native path (the library handing a plan to the executor, as
// the engine does) and its CLI, side by side with crun and runc in one run.
// Also the lowest memory limit at which `true` still runs.
// Run: node dist/bench/runtime.js   (as root; re-executes itself in a private
// mount namespace so crun accepts this hybrid-cgroup host)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync, mkdirSync, chmodSync, openSync, closeSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { makeBundle } from '../test/helpers/make-bundle.js';
import { stopRuntimeServers } from '../test/helpers/env.js';
import { Runtime } from '../src/runtime/container.js';
import { inNamespaceWithoutCgroup2Controllers, median, versionOf } from './lib.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RUNS = Number(process.env.RUNS ?? 40), WARMUP = 5;

inNamespaceWithoutCgroup2Controllers();

const work = mkdtempSync(join(tmpdir(), 'berth-bench-'));
chmodSync(work, 0o755);
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

function bundle(name: string, memLimit?: number, args = ['true']): string {
  return makeBundle(join(work, name), args, (s) => {
    // what anchors W2 uses: pid, ipc, uts, mount and net namespaces, no terminal
    s.linux.namespaces = ['pid', 'ipc', 'uts', 'mount', 'network'].map((type) => ({ type }));
    s.root.readonly = true;
    s.ociVersion = '1.0.2'; // crun 1.8 refuses newer versions
    s.linux.cgroupsPath = `/berth-bench/${name}`;
    if (memLimit) s.linux.resources.memory = { limit: memLimit, swap: memLimit };
  });
}

function timeCli(cmd: string[], b: string, env: NodeJS.ProcessEnv = process.env): number[] {
  const out: number[] = [];
  for (let i = 0; i < RUNS + WARMUP; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd[0], [...cmd.slice(1), 'run', '-b', b, `bench-${process.pid}-${i}`], { stdio: ['ignore', 'ignore', 'pipe'], env });
    const t = ms(t0);
    if (r.status !== 0) throw new Error(`${cmd.join(' ')} failed: ${r.stderr}`);
    if (i >= WARMUP) out.push(t);
  }
  return out;
}

async function timeNative(b: string): Promise<number[]> {
  const rt = new Runtime(join(work, 'native-state'));
  const out: number[] = [];
  for (let i = 0; i < RUNS + WARMUP; i++) {
    const id = `bench-native-${i}`;
    const t0 = process.hrtime.bigint();
    const { done } = await rt.create(id, b, { supervise: true, stdio: ['ignore', 'ignore', 'ignore'] });
    await rt.start(id);
    const res = await done;
    await rt.delete(id, true);
    const t = ms(t0);
    if (res.exitCode !== 0) throw new Error(`native run exited ${res.exitCode}`);
    if (i >= WARMUP) out.push(t);
  }
  return out;
}

const VERBS = ['create', 'start', 'state', 'exec', 'kill', 'delete'] as const;

/**
 * Each verb of one container's life, timed alone: create, start, state,
 * exec (`true` in it), kill (SIGKILL), delete, on a `sleep` bundle.
 */
function timeVerbs(cmd: string[], b: string, env: NodeJS.ProcessEnv = process.env): Record<string, number[]> {
  const out: Record<string, number[]> = Object.fromEntries(VERBS.map((v) => [v, []]));
  for (let i = 0; i < RUNS + WARMUP; i++) {
    const id = `verbs-${process.pid}-${i}`;
    const steps: [string, string[]][] = [
      ['create', ['create', '-b', b, id]], ['start', ['start', id]], ['state', ['state', id]],
      ['exec', ['exec', id, 'true']], ['kill', ['kill', id, 'KILL']], ['delete', ['delete', '-f', id]],
    ];
    for (const [verb, args] of steps) {
      // stderr to a file, not a pipe: the container's `sleep` inherits it, and spawnSync waits for a pipe's EOF
      const errFile = join(work, 'verb.err'), err = openSync(errFile, 'w');
      const t0 = process.hrtime.bigint();
      const r = spawnSync(cmd[0], [...cmd.slice(1), ...args], { stdio: ['ignore', 'ignore', err], env });
      const t = ms(t0);
      closeSync(err);
      if (r.status !== 0) throw new Error(`${cmd.join(' ')} ${verb} failed: ${readFileSync(errFile, 'utf8')}`);
      if (i >= WARMUP) out[verb]!.push(t);
    }
  }
  return out;
}

/** Lowest memory limit (KiB resolution) at which `true` exits 0. */
function minMemory(cmd: string[]): number | undefined {
  const ok = (limit: number) => {
    const b = bundle(`mem-${cmd[0].split('/').pop()}-${limit}`, limit);
    const r = spawnSync(cmd[0], [...cmd.slice(1), 'run', '-b', b, `bench-mem-${process.pid}-${limit}`], { stdio: 'ignore', timeout: 20000 });
    spawnSync(cmd[0], [...cmd.slice(1), 'delete', '-f', `bench-mem-${process.pid}-${limit}`], { stdio: 'ignore' });
    return r.status === 0;
  };
  let lo = 4096, hi = 64 * 1024 * 1024;
  if (!ok(hi)) return undefined;
  while (hi - lo > 4096) {
    const mid = Math.floor((lo + hi) / 2 / 4096) * 4096;
    if (ok(mid)) hi = mid; else lo = mid;
  }
  return hi;
}

// the runtime server the front starts (src/cli/runtime-server.ts): in this run's directory, stopped at the end
const sockDir = join(work, 'rt-sock');
process.env.BERTH_RUNTIME_SOCKET_DIR = sockDir; // every berth-runtime of this run, the memory probe's too
const serverEnv = process.env;
const nodeEnv = { ...process.env, BERTH_RUNTIME_SERVER: '0' };

try {
  const b = bundle('true');
  const berthCli = [join(REPO, 'bin', 'berth-runtime'), '--root', join(work, 'cli-state')];
  const crunCmd = ['crun', '--root', join(work, 'crun-state')], runcCmd = ['runc', '--root', join(work, 'runc-state')];
  const rows: [string, string, number[]][] = [];
  rows.push(['berth native path (library → executor)', 'berth', await timeNative(b)]);
  const hasCrun = existsSync('/usr/bin/crun');
  const crun = hasCrun ? timeCli(crunCmd, b) : [];
  if (crun.length) rows.push(['crun run', 'crun', crun]);
  rows.push(['berth-runtime run (front + runtime server)', 'berth', timeCli(berthCli, b, serverEnv)]);
  rows.push(['berth-runtime run (Node CLI: BERTH_RUNTIME_SERVER=0)', 'berth', timeCli(berthCli, b, nodeEnv)]);
  const runc = timeCli(runcCmd, b);
  rows.push(['runc run', 'runc', runc]);
  // for scale: the floor of any CLI that starts Node (what bin/berth-runtime runs on)
  const nodeFloor: number[] = [];
  for (let i = 0; i < RUNS + WARMUP; i++) {
    const t0 = process.hrtime.bigint();
    spawnSync(process.execPath, ['-e', '0'], { stdio: 'ignore', env: { ...process.env, NODE_EXTRA_CA_CERTS: '' } });
    if (i >= WARMUP) nodeFloor.push(ms(t0));
  }
  rows.push(['node -e 0 (Node start alone, for scale)', 'node', nodeFloor]);

  const sleeper = bundle('sleep', undefined, ['sleep', '1000']);
  const verbs: [string, Record<string, number[]>][] = [
    ['berth-runtime (front + server)', timeVerbs(berthCli, sleeper, serverEnv)],
    ['berth-runtime (Node CLI)', timeVerbs(berthCli, sleeper, nodeEnv)],
    ['runc', timeVerbs(runcCmd, sleeper)],
    ...(hasCrun ? [['crun', timeVerbs(crunCmd, sleeper)] as [string, Record<string, number[]>]] : []),
  ];

  const mem: [string, number | undefined][] = [
    ['berth-runtime', minMemory(berthCli)],
    ['crun', minMemory(['crun', '--root', join(work, 'crun-state')])],
    ['runc', minMemory(['runc', '--root', join(work, 'runc-state')])],
  ];

  const med = Object.fromEntries(rows.map(([n, , xs]) => [n, median(xs)]));
  const fmt = (x: number) => `${x.toFixed(1)} ms`;
  const lines = [
    `# Runtime benchmark (${new Date().toISOString()})`, '',
    `busybox \`true\`, namespaces pid+ipc+uts+mount+net, read-only root, create → start → wait → delete; ${RUNS} runs after ${WARMUP} warm-up, median (min–max).`,
    `Versions: ${versionOf('runc')}; ${versionOf('crun')}; node ${process.version}. Host cgroups: hybrid (crun run inside a private mount namespace that hides cgroup2's controllers, as anchors.sh does).`, '',
    '| path | median | min–max | ratio |', '|---|---|---|---|',
    ...rows.map(([n, , xs]) => {
      const peer = n.startsWith('berth native') ? med['crun run'] : n.startsWith('berth-runtime') ? med['runc run'] : undefined;
      const ratio = peer ? `${(median(xs) / peer).toFixed(2)} × ${n.startsWith('berth native') ? 'crun' : 'runc'}` : '';
      return `| ${n} | ${fmt(median(xs))} | ${fmt(Math.min(...xs))} – ${fmt(Math.max(...xs))} | ${ratio} |`;
    }),
    '', '## Each verb alone', '',
    `A \`sleep 1000\` bundle: create, start, state, exec \`true\`, kill (SIGKILL), delete -f; ${RUNS} containers after ${WARMUP} warm-up, median ms; ratio to runc.`, '',
    `| runtime | ${VERBS.join(' | ')} |`, `|---|${VERBS.map(() => '---').join('|')}|`,
    ...verbs.map(([n, v]) => `| ${n} | ${VERBS.map((x) => `${median(v[x]!).toFixed(1)} (${(median(v[x]!) / median(verbs.find(([k]) => k === 'runc')![1][x]!)).toFixed(2)}×)`).join(' | ')} |`),
    '', '## Lowest memory limit at which `true` runs', '', '| runtime | limit |', '|---|---|',
    ...mem.map(([n, v]) => `| ${n} | ${v === undefined ? 'failed even at 64 MiB' : `${(v / 1024).toFixed(0)} KiB`} |`), '',
  ];
  const text = lines.join('\n');
  mkdirSync(join(REPO, 'bench', 'results'), { recursive: true });
  writeFileSync(join(REPO, 'bench', 'results', 'runtime.md'), text);
  process.stdout.write(text);
} finally {
  stopRuntimeServers(sockDir);
  // also after a failed run: no cgroups or bundles left behind
  spawnSync('sh', ['-c', 'for d in /sys/fs/cgroup/*/berth-bench; do find $d -depth -type d -exec rmdir {} \\; 2>/dev/null; done']);
  rmSync(work, { recursive: true, force: true });
}

