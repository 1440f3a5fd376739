// The OCI lifecycle: create, start, state, kill, delete, pause, resume, exec.
// State lives in <root>/<id>/state.json, written atomically; a container that
// failed to be created leaves nothing behind.
import { closeSync, existsSync, readlinkSync, realpathSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, rmSync, unlinkSync, constants as C } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { InvalidInput } from '../util/check.js';
import { writeFileAtomic } from '../util/atomic.js';
import { applyCgroup, updateCgroup, blockWeightSupported, oomKillDisableSupported, v1KnobSupported, cgroupJoin, cgroupPids, containerCgroupPath, destroyCgroup, detectHost, isFrozen, planCgroup, readOomKills, readStats, setFrozen, type CgroupHost, type CgroupStats } from './cgroups/index.js';
import { parseConfig, type Config, type Process } from './config.js';
import { executorPath, runExecutor, type ExecutorOptions } from './executor.js';
import { buildCreatePlan, buildExecPlan, hookState, type PlanContext } from './plan.js';
import { signalNumber } from './signals.js';

export const DEFAULT_ROOT = '/run/berth/runtime';
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,1023}$/;
/** Runtime state and pid files describe live processes: atomic, not durable (see util/atomic.ts). */
const LIVE = { durable: false };

export type Status = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export interface ContainerState {
  id: string;
  pid: number;
  pidStart: string;
  bundle: string;
  rootfs: string;
  created: string;
  cgroupPath: string;
  cgroupDirs: string[];
  config: Config;
  configText: string;
}

export class RuntimeError extends Error {}

/** HOME for a process whose env lacks it: the user's entry in the rootfs's /etc/passwd, else "/" (as runc does). */
export function withHome(proc: Process, rootfs: string): Process {
  if (proc.env.some((e) => e.startsWith('HOME='))) return proc;
  let home = '/';
  try {
    const passwd = join(rootfs, 'etc', 'passwd');
    const real = realpathSync(passwd);
    // a symlink out of the rootfs must not show a host file's content
    if (real.startsWith(`${realpathSync(rootfs)}/`)) {
      for (const line of readFileSync(real, 'utf8').split('\n')) {
        const f = line.split(':');
        if (f.length >= 6 && Number(f[2]) === proc.user.uid && f[2] !== '') { home = f[5] || '/'; break; }
      }
    }
  } catch { /* no passwd: "/" */ }
  return { ...proc, env: [...proc.env, `HOME=${home}`] };
}

export function validateId(id: string): void {
  if (!ID_RE.test(id)) throw new InvalidInput('container id', `${JSON.stringify(id)} is not valid (letters, digits, _ . + -)`);
}

function procStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}

export class Runtime {
  readonly host: CgroupHost;
  /** `warn`: what the runtime lets pass but reports (a config property it does not know) */
  constructor(readonly root: string = DEFAULT_ROOT, private readonly warn: (msg: string) => void = () => {}) {
    this.host = detectHost();
  }

  private dir(id: string): string {
    validateId(id);
    return join(this.root, id);
  }

  load(id: string): ContainerState {
    const f = join(this.dir(id), 'state.json');
    let text: string;
    try { text = readFileSync(f, 'utf8'); } catch { throw new RuntimeError(`container "${id}" does not exist`); }
    const s = JSON.parse(text) as Omit<ContainerState, 'config'>;
    return { ...s, config: this.configOf(id, s.configText) };
  }

  /** Parsed configs by container, kept while their text is the same: every exec and kill loads the state again, and parsing is what costs. */
  private parsed = new Map<string, { text: string; config: Config }>();

  private configOf(id: string, text: string): Config {
    let p = this.parsed.get(id);
    if (p?.text !== text) this.parsed.set(id, p = { text, config: parseConfig(text, () => {}) }); // warned of at create
    return p.config;
  }

  list(): string[] {
    try { return readdirSync(this.root).filter((d) => existsSync(join(this.root, d, 'state.json'))); } catch { return []; }
  }

  status(s: ContainerState): Status {
    if (!s.pid || procStart(s.pid) !== s.pidStart) return 'stopped';
    if (existsSync(join(this.root, s.id, 'exec.fifo'))) return 'created';
    return isFrozen(this.host, s.cgroupDirs) ? 'paused' : 'running';
  }

  /** The state as `runtime state` prints it (OCI runtime-spec state + runc's extra fields). */
  stateJson(s: ContainerState): Record<string, unknown> {
    const status = this.status(s);
    return {
      ociVersion: s.config.ociVersion, id: s.id, pid: status === 'stopped' ? 0 : s.pid, status, bundle: s.bundle,
      rootfs: s.rootfs, created: s.created, owner: '', annotations: s.config.annotations,
    };
  }

  /** Creates the container; with `supervise` the executor stays its parent and `done` reports the exit. */
  async create(id: string, bundle: string, opts: { consoleSocket?: string; pidFile?: string; preserveFds?: number; noPivot?: boolean; supervise?: boolean; stdio?: ExecutorOptions['stdio']; via?: ExecutorOptions['via']; onNamespaces?: ExecutorOptions['onNamespaces'] } = {}) {
    validateId(id);
    bundle = resolve(bundle);
    let text: string;
    try { text = readFileSync(join(bundle, 'config.json'), 'utf8'); } catch (e) {
      throw new InvalidInput('bundle', `cannot read ${join(bundle, 'config.json')}: ${(e as NodeJS.ErrnoException).code}`);
    }
    const config = parseConfig(text, (path) => this.warn(`config.json: ${path}: unknown property, ignored`));
    if (config.process?.terminal && !opts.consoleSocket && !opts.supervise) {
      throw new InvalidInput('process.terminal', 'is true: --console-socket is required');
    }
    const rootfs = resolve(bundle, config.root.path);
    if (!existsSync(rootfs)) throw new InvalidInput('root.path', `${rootfs} does not exist`);
    if (config.process) config.process = withHome(config.process, rootfs);
    mkdirSync(this.root, { recursive: true, mode: 0o711 });
    const dir = this.dir(id);
    try { mkdirSync(dir, { mode: 0o711 }); } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new RuntimeError(`container "${id}" already exists`);
      throw e;
    }
    const cgroupPath = containerCgroupPath(config.linux.cgroupsPath, id, this.host.hierarchies.find((h) => h.version === 2)?.own ?? '/');
    const cg = planCgroup(this.host, cgroupPath, config.linux.resources, config.linux.devices);
    let exe: ReturnType<typeof runExecutor> | undefined;
    try {
      const fifo = join(dir, 'exec.fifo');
      const ctx: PlanContext = {
        id, warn: this.warn, bundle, rootfs, fifo, cgroup: cg, consoleSocket: opts.consoleSocket, preserveFds: opts.preserveFds ?? 0,
        noPivot: !!opts.noPivot, supervise: !!opts.supervise, reportNs: !!opts.onNamespaces,
        cgroupMounts: this.host.mode === 'v2'
          ? [['', cg.dirs[0]]]
          : this.host.hierarchies.map((h, i) => [h.version === 2 ? 'unified' : h.mount.split('/').pop()!, cg.dirs[i]]),
      };
      const plan = buildCreatePlan(config, ctx);
      applyCgroup(this.host, cgroupPath, cg);
      exe = runExecutor(plan, { stdio: opts.stdio, preserveFds: opts.preserveFds, via: opts.via, onNamespaces: opts.onNamespaces, protectExe: config.linux.namespaces.some((n) => n.type === 'pid' && n.path) || !config.linux.namespaces.some((n) => n.type === 'pid') });
      const pid = await exe.pid;
      const state: ContainerState = {
        id, pid, pidStart: procStart(pid) ?? '', bundle, rootfs, created: new Date().toISOString(), cgroupPath,
        cgroupDirs: cg.dirs, config, configText: text,
      };
      const { config: _c, ...persist } = state;
      writeFileAtomic(join(dir, 'state.json'), JSON.stringify(persist), LIVE);
      if (opts.pidFile) writeFileAtomic(resolve(opts.pidFile), String(pid), LIVE);
      return { state, done: exe.done };
    } catch (e) {
      exe?.kill('SIGKILL');
      await exe?.done;
      for (const p of cgroupPids(cg.dirs)) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
      await destroyCgroup(cg.dirs).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** Lets the init exec the user process, then runs poststart hooks. */
  async start(id: string): Promise<void> {
    const s = this.load(id);
    const st = this.status(s);
    if (st !== 'created') throw new RuntimeError(`cannot start container "${id}": it is ${st}`);
    const fifo = join(this.root, id, 'exec.fifo');
    const fd = openSync(fifo, C.O_RDONLY | C.O_NONBLOCK);
    try {
      const b = Buffer.alloc(1);
      const released = () => {
        try { return readSync(fd, b, 0, 1, null) === 1; } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e; return false; }
      };
      for (let i = 0; ; i++) {
        if (released()) break;
        // a short-lived process may have written and exited already: its byte is still in the fifo
        if (procStart(s.pid) !== s.pidStart) {
          if (released()) break;
          throw new RuntimeError(`cannot start container "${id}": its init exited`);
        }
        // a start cut off (its caller killed) after it took the byte, before it removed the fifo: the init has run its program already
        if (i >= 200 && i % 50 === 0 && ranProgram(s.pid)) break;
        if (i > 20200) throw new RuntimeError(`cannot start container "${id}": its init does not answer`);
        // the init is about to write: yield briefly first, then poll each ms
        await new Promise((r) => (i < 200 ? setImmediate(r) : setTimeout(r, 1)));
      }
    } finally {
      closeSync(fd);
    }
    unlinkSync(fifo);
    this.runHostHooks(s, 'poststart', 'running', true);
  }

  private runHostHooks(s: ContainerState, kind: 'poststart' | 'poststop', status: string, warnOnly: boolean): void {
    const ctx = { id: s.id, bundle: s.bundle } as PlanContext;
    for (const h of s.config.hooks[kind]) {
      const r = spawnSync(h.path, h.args.slice(1), { argv0: h.args[0] ?? h.path, input: hookState(s.config, ctx, status)(s.pid), env: Object.fromEntries(h.env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])), timeout: (h.timeout ?? 30) * 1000, stdio: ['pipe', 'inherit', 'inherit'] });
      if (r.status !== 0) {
        const msg = `${kind} hook ${h.path} failed: ${r.error?.message ?? `status ${r.status ?? r.signal}`}`;
        if (!warnOnly) throw new RuntimeError(msg);
        process.stderr.write(`berth-runtime: warning: ${msg}\n`);
      }
    }
  }

  kill(id: string, signal: string | number, all = false): void {
    const s = this.load(id);
    const st = this.status(s);
    if (st === 'stopped') throw new RuntimeError(`cannot kill container "${id}": it is not running`);
    const sig = signalNumber(signal);
    const pids = all ? cgroupPids(s.cgroupDirs) : [s.pid];
    for (const p of pids) { try { process.kill(p, sig); } catch { /* exited meanwhile */ } }
    if (st === 'paused' && sig === 9) void setFrozen(this.host, s.cgroupDirs, false);
  }

  async delete(id: string, force = false): Promise<void> {
    let s: ContainerState;
    try { s = this.load(id); } catch (e) {
      // a half-created directory without state is removed too
      const dir = this.dir(id);
      if (existsSync(dir) && !existsSync(join(dir, 'state.json'))) { rmSync(dir, { recursive: true, force: true }); return; }
      throw e;
    }
    const st = this.status(s);
    if ((st === 'running' || st === 'paused') && !force) {
      throw new RuntimeError(`cannot delete container "${id}" that is not stopped: ${st} (use --force)`);
    }
    if (st !== 'stopped') {
      for (const p of cgroupPids(s.cgroupDirs)) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
      try { process.kill(s.pid, 'SIGKILL'); } catch { /* gone */ }
      if (st === 'paused') await setFrozen(this.host, s.cgroupDirs, false);
      for (let i = 0; i < 2000 && procStart(s.pid) === s.pidStart; i++) await new Promise((r) => setTimeout(r, 1));
    }
    for (let i = 0; i < 2000 && cgroupPids(s.cgroupDirs).length; i++) await new Promise((r) => setTimeout(r, 1));
    await destroyCgroup(s.cgroupDirs);
    this.runHostHooks(s, 'poststop', 'stopped', true);
    rmSync(join(this.root, id), { recursive: true, force: true });
    this.parsed.delete(id);
  }

  async pause(id: string): Promise<void> {
    const s = this.load(id);
    const st = this.status(s);
    if (st !== 'running' && st !== 'created') throw new RuntimeError(`cannot pause container "${id}": it is ${st}`);
    await setFrozen(this.host, s.cgroupDirs, true);
  }

  async resume(id: string): Promise<void> {
    const s = this.load(id);
    if (this.status(s) !== 'paused') throw new RuntimeError(`cannot resume container "${id}": it is not paused`);
    await setFrozen(this.host, s.cgroupDirs, false);
  }

  /**
   * `update`: new resource limits for a created or running container (the
   * linux.resources of its config, as OCI defines it), over the ones it has:
   * as in runc, a value that is absent, null or 0 leaves its limit as it
   * is. Device rules stay as created.
   */
  update(id: string, resources: unknown): void {
    const s = this.load(id);
    if (this.status(s) === 'stopped') throw new RuntimeError(`cannot update container "${id}": it is stopped`);
    const raw = JSON.parse(s.configText) as { linux?: Record<string, unknown> };
    raw.linux = { ...(raw.linux ?? {}), resources: mergeResources((raw.linux?.resources ?? {}) as Resources, resources) };
    const text = JSON.stringify(raw);
    const config = parseConfig(text, (path) => { if (path.startsWith('linux.resources')) this.warn(`update: ${path}: unknown property, ignored`); });
    const plan = planCgroup(this.host, s.cgroupPath, config.linux.resources, config.linux.devices);
    const pending = updateCgroup(plan);
    if (pending.length) throw new RuntimeError(`cannot update container "${id}": cgroup refused ${pending.map((w) => `${w.value} for ${w.file.split('/').pop()}`).join(', ')}`);
    const { config: _c, ...persist } = { ...s, configText: text };
    writeFileAtomic(join(this.root, id, 'state.json'), JSON.stringify(persist), LIVE);
  }

  pids(id: string): number[] {
    return cgroupPids(this.load(id).cgroupDirs);
  }

  stats(id: string): CgroupStats {
    return readStats(this.host, this.load(id).cgroupDirs);
  }

  /** Whether a container's OOM killer can be disabled on this host (cgroup v1's memory controller). */
  oomKillDisableSupported(): boolean {
    return oomKillDisableSupported(this.host);
  }

  /** Whether the host's cgroups take a memory swappiness, and a CPU real-time runtime and period (cgroup v1 only). */
  swappinessSupported(): boolean { return v1KnobSupported(this.host, 'memory', 'memory.swappiness'); }
  kernelTcpSupported(): boolean { return v1KnobSupported(this.host, 'memory', 'memory.kmem.tcp.limit_in_bytes'); }
  realtimeSupported(): boolean { return v1KnobSupported(this.host, 'cpu', 'cpu.rt_runtime_us') && v1KnobSupported(this.host, 'cpu', 'cpu.rt_period_us'); }

  /** Whether containers under cgroup `parent` can have a block I/O weight (see cgroups blockWeightSupported). */
  blockWeightSupported(parent: string): boolean {
    return blockWeightSupported(this.host, parent);
  }

  oomKills(id: string): number {
    return readOomKills(this.host, this.load(id).cgroupDirs);
  }

  /** Runs another process in a running container. */
  async exec(id: string, proc: Process, opts: { consoleSocket?: string; pidFile?: string; preserveFds?: number; detach?: boolean; stdio?: ExecutorOptions['stdio']; via?: ExecutorOptions['via'] } = {}) {
    const s = this.load(id);
    const st = this.status(s);
    if (st !== 'running' && st !== 'created') throw new RuntimeError(`cannot exec in container "${id}": it is ${st}`);
    if (proc.terminal && !opts.consoleSocket && opts.detach) throw new InvalidInput('process.terminal', 'is true: --console-socket is required');
    const plan = buildExecPlan(s.config, withHome(proc, s.rootfs), {
      id: s.id, bundle: s.bundle, pid: s.pid, cgroupJoin: cgroupJoin(this.host, s.cgroupDirs), consoleSocket: opts.consoleSocket,
      preserveFds: opts.preserveFds ?? 0, supervise: !opts.detach,
    });
    const exe = runExecutor(plan, { stdio: opts.stdio, preserveFds: opts.preserveFds, protectExe: true, via: opts.via });
    const pid = await exe.pid;
    if (opts.pidFile) writeFileAtomic(resolve(opts.pidFile), String(pid), LIVE);
    return { pid, done: exe.done };
  }
}

/** Whether the init has exec'd its program: until then it runs the executor. */
function ranProgram(pid: number): boolean {
  // the executor runs from its file unless it protects itself (--protect-exe): both mean "not yet"
  try { const exe = readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, ''); return !exe.startsWith('/memfd:') && exe !== executorFile(); } catch { return false; }
}

let executorReal: string | undefined;
const executorFile = () => (executorReal ??= realpathSync(executorPath()));

type Resources = Record<string, unknown>;

/** `patch`'s set values over `current`, section by section (memory, cpu, pids, ...); devices are never updated. */
function mergeResources(current: Resources, patch: unknown): Resources {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) throw new InvalidInput('resources', 'must be a JSON object (linux.resources)');
  const out: Resources = { ...current };
  const set = (v: unknown) => v !== undefined && v !== null && v !== 0 && v !== '';
  for (const [k, v] of Object.entries(patch as Resources)) {
    if (k === 'devices' || !set(v)) continue;
    if (typeof v !== 'object' || Array.isArray(v)) { out[k] = v; continue; }
    out[k] = { ...((current[k] as Resources | undefined) ?? {}), ...Object.fromEntries(Object.entries(v as Resources).filter(([, x]) => set(x))) };
  }
  return out;
}
