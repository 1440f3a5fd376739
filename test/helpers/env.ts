// Per-run names and cleanup: every test gets a unique id, a temporary state
// root and a cgroup parent that is removed afterwards.
import { chmodSync, mkdtempSync, rmSync, existsSync, readdirSync, rmdirSync, statSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { makeBundle, type Spec } from './make-bundle.js';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BERTH_RUNTIME = join(REPO, 'bin', 'berth-runtime');
export const PREFIX = `berth-test-${process.pid}`;

/**
 * The runtime server that bin/berth-runtime's front starts
 * (src/cli/runtime-server.ts): this test process's own, in a directory of
 * its own (every berth-runtime started from here, through dockerd and
 * podman too, inherits it), stopped when the process ends.
 */
const runtimeSockets = mkdtempSync(join(tmpdir(), `${PREFIX}-rt-`));
if (!process.env.BERTH_RUNTIME_SOCKET_DIR) {
  process.env.BERTH_RUNTIME_SOCKET_DIR = runtimeSockets;
  process.env.BERTH_RUNTIME_SERVER_IDLE ??= '120'; // a run killed before its exit leaves none for long
}
/** The live runtime servers whose sockets are in `dir` (each lock file names its server's pid). */
export function runtimeServerPids(dir = runtimeSockets): number[] {
  let locks: string[];
  try { locks = readdirSync(dir).filter((e) => e.endsWith('.lock')); } catch { return []; }
  return locks.map((f) => Number(readFileSync(join(dir, f), 'utf8'))).filter((pid) => {
    try { return isRunning(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('\0--serve\0'); } catch { return false; }
  });
}

/** Stops the runtime servers of `dir` (this test process's own by default) and removes it. */
export function stopRuntimeServers(dir = runtimeSockets): void {
  for (const pid of runtimeServerPids(dir)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  rmSync(dir, { recursive: true, force: true });
}
process.on('exit', () => stopRuntimeServers());

/** conmon starts the runtime with an environment of its own: a berth-runtime in `dir` that keeps this process's runtime server dir. */
export function runtimeForConmon(dir: string): string {
  const path = join(dir, 'berth-runtime');
  writeFileSync(path, `#!/bin/sh\nexport BERTH_RUNTIME_SOCKET_DIR='${process.env.BERTH_RUNTIME_SOCKET_DIR}'\nexec '${BERTH_RUNTIME}' "$@"\n`, { mode: 0o755 });
  return path;
}

// The shared test data sits beside the checkout (../shared/corpus), or beside
// the checkout this clone was made from (CI clones elsewhere); BERTH_CORPUS overrides.
function origin(): string | undefined {
  const r = spawnSync('git', ['-C', REPO, 'config', '--get', 'remote.origin.url'], { encoding: 'utf8' });
  const url = r.status === 0 ? r.stdout.trim() : '';
  return url.startsWith('/') ? url : undefined;
}
export function corpusDir(): string {
  const candidates = [process.env.BERTH_CORPUS, join(REPO, '..', 'shared', 'corpus'), origin() && join(origin()!, '..', 'shared', 'corpus')].filter((c): c is string => !!c);
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error(`test corpus not found (looked in ${candidates.join(', ')}; set BERTH_CORPUS to the workspace's shared/corpus)`);
  return found;
}

let n = 0;
export class TestEnv {
  readonly dir = mkdtempSync(join(tmpdir(), `${PREFIX}-`));
  constructor() {
    chmodSync(this.dir, 0o755); // a user-namespaced root must reach its bundle
  }
  readonly root = join(this.dir, 'state');
  readonly cgroupParent = `/${PREFIX}`;

  id(): string {
    return `${PREFIX}-${++n}`;
  }

  bundle(args: string[], change?: (s: Spec) => void): string {
    const b = join(this.dir, `bundle-${++n}`);
    return makeBundle(b, args, (s) => {
      s.linux.cgroupsPath = `${this.cgroupParent}/${b.split('/').pop()}`;
      change?.(s);
    });
  }

  runtime(args: string[], opts: { input?: string; timeout?: number; bin?: string } = {}): SpawnSyncReturns<string> {
    const bin = opts.bin ?? BERTH_RUNTIME;
    if (args.includes('-d') || args[0] === 'create') {
      // a detached container keeps its stdio: give it files, not our pipes
      const log = join(this.dir, `out-${++n}.log`);
      const fd = openSync(log, 'w+');
      try {
        const r = spawnSync(bin, ['--root', this.root, ...args], { encoding: 'utf8', stdio: ['ignore', fd, fd], timeout: opts.timeout ?? 30000 });
        const text = readFileSync(log, 'utf8');
        return { ...r, stdout: text, stderr: text };
      } finally {
        closeSync(fd);
      }
    }
    return spawnSync(bin, ['--root', this.root, ...args], { encoding: 'utf8', input: opts.input ?? '', timeout: opts.timeout ?? 30000 });
  }

  /** `run` of a fresh bundle; returns stdout, stderr and the exit status. */
  run(args: string[], change?: (s: Spec) => void, bin?: string) {
    const b = this.bundle(args, change);
    const r = this.runtime(['run', '-b', b, this.id()], { bin });
    return { out: r.stdout, err: r.stderr, code: r.status };
  }

  cleanup(): void {
    // containers first, then their cgroups, then files
    const list = existsSync(this.root) ? readdirSync(this.root) : [];
    for (const id of list) this.runtime(['delete', '--force', id]);
    removeCgroup(this.cgroupParent);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function rmTree(d: string): void {
  for (const e of readdirSync(d)) {
    const p = join(d, e);
    if (statSync(p).isDirectory()) rmTree(p);
  }
  try { rmdirSync(d); } catch { /* still busy: reported by the leak check */ }
}

export const sh = (cmd: string) => ['sh', '-c', cmd];

/** Unmounts everything mounted at or below `dir`, deepest first. */
export function unmountUnder(dir: string): void {
  for (const p of mountsUnder(dir)) spawnSync('umount', ['-l', p]);
}

/** Mount points at or below `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => l.split(' ')[4]?.replace(/\\040/g, ' '))
    .filter((p): p is string => !!p && (p === dir || p.startsWith(dir + '/')))
    .sort((a, b) => b.length - a.length);
}

/**
 * A containers.conf for podman on this machine: without CAP_SYS_RESOURCE its
 * default rlimits cannot be set, so it gets the machine's hard limits (nproc
 * at most 32768: podman lowers its own to that before it starts the runtime).
 */
export function podmanConf(path: string): string {
  const hard = (flag: string) => {
    const v = spawnSync('bash', ['-c', `ulimit -H${flag}`], { encoding: 'utf8' }).stdout.trim();
    return v === 'unlimited' ? 1048576 : Math.min(Number(v), 1048576);
  };
  const nproc = Math.min(hard('u'), 32768);
  writeFileSync(path, `[containers]\ndefault_ulimits = ["nofile=${hard('n')}:${hard('n')}", "nproc=${nproc}:${nproc}"]\n`);
  return path;
}

/** Removes the cgroup `path` (and its children) from every hierarchy. */
/** The pids in cgroup `d` and below. */
function cgroupPids(d: string): number[] {
  const own = (() => { try { return readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number); } catch { return []; } })();
  return [...own, ...readdirSync(d).filter((e) => statSync(join(d, e)).isDirectory()).flatMap((e) => cgroupPids(join(d, e)))];
}

/**
 * Removes a test's cgroup tree, killing what still runs in it first: a
 * container outlives a daemon that crashed (by design), and would keep
 * its cgroup busy.
 */
export function removeCgroup(path: string): void {
  const dirs = readdirSync('/sys/fs/cgroup').map((h) => join('/sys/fs/cgroup', h, path)).filter((d) => existsSync(d));
  for (let i = 0; i < 50; i++) {
    const pids = [...new Set(dirs.flatMap(cgroupPids))].filter(isRunning);
    if (pids.length === 0) break;
    for (const p of pids) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
    spawnSync('sleep', ['0.05']);
  }
  for (const d of dirs) rmTree(d);
}

/** Whether `pid` runs: not gone, and not a zombie no one has reaped yet (this VM's init is slow to). */
export function isRunning(pid: number): boolean {
  try { return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { return false; }
}

/** A /proc stat file's fields after the command's name (which may hold spaces): [0] the state, [1] the parent's pid, [38] the scheduling policy. */
export function statFields(stat: string): string[] {
  return stat.replace(/^.*\) /, '').split(' ');
}

/**
 * The pids of the processes whose /proc files pass `test` (given a reader
 * of /proc/PID/FILE); one that ends while it is looked at is left out.
 */
export function pidsWhere(test: (read: (file: string) => string) => boolean): number[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try { return test((file) => readFileSync(`/proc/${p}/${file}`, 'utf8')); } catch { return false; }
  }).map(Number);
}
