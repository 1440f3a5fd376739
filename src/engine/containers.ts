// The engine behind the API, and the container lifecycle it runs: start,
// exit and restart, stop, kill, wait, remove, pause, update, and the
// re-adoption of running containers when the daemon starts. Each running
// process is held by a berth-shim. The other duties have rooms of their
// own: the record store (records.ts), create (create.ts), the root and its
// /etc files (container-root.ts), attach, exec, health checks and the
// container's files (cp, export, diff, commit: files.ts).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { dirname, join } from 'node:path';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { availableParallelism } from 'node:os';
import { writeFileAtomic } from '../util/atomic.js';
import { Limiter } from '../util/limit.js';
import { Conflict, NotFound } from '../util/check.js';
import { discard, removeEntries } from '../util/fsx.js';
import { nativeBuild } from '../util/project.js';
import { withRootDir, type ImageStore, type RootDir } from '../image/index.js';
import { Runtime, signalNumber } from '../runtime/index.js';
import { ociSpec, type SpecMount } from './spec.js';
import { consoleSocket, killShim, readExit, request, resize, shimVia, waitExit, type ExitRecord } from './shim.js';
import { VolumeStore } from './volumes.js';
import { ContainerFiles, type CommitOptions, type PathStat } from './files.js';
import { Attachers, parseDetachKeys, type AttachStreams } from './attach.js';
import { logOptions } from './log-options.js';
import { Execs } from './exec.js';
import { HealthChecks } from './health.js';
import { checkUpdate, restartDelay, restartWanted, updatedHostConfig } from './container-config.js';
import { createContainer, discardUnsupported } from './create.js';
import { ContainerStore, type ContainerRecord, type EndpointSettings, type EngineEvent } from './records.js';
import { etcPaths, mountRoot, releaseStaged, stageSubpaths, unmountRoot, writeEtcFiles, type EtcFiles } from './container-root.js';
import { ZERO_TIME, type HostConfig } from './types.js';
import { Networks, hostNames, ipv4Config, type EndpointRecord, type NetworkRecord } from '../network/index.js';
import { ContainerNetworks } from './networking.js';
import { JOINABLE, joinedNamespaces, modeContainer } from './joined.js';
import { DEFAULT_DATA_ROOT } from './defaults.js';

export { ExecStartError, type ExecRecord } from './exec.js';
export { parseDetachKeys };
export type { ContainerRecord, EngineEvent };

const now = () => new Date().toISOString();

export class Engine extends EventEmitter {
  readonly runtime: Runtime;
  readonly volumes: VolumeStore;
  readonly networks: Networks;
  /** the records, their names, locks and events (records.ts) */
  readonly store: ContainerStore;
  private readonly attachers: Attachers;
  private waiters = new Map<string, ((r: ContainerRecord) => void)[]>();
  private exits = new Map<string, Promise<ExitRecord>>();
  private restartTimers = new Map<string, NodeJS.Timeout>();
  private shutting = false;
  private readonly trash: string;
  /** the exec root's own trash: shim directories are renamed there, never across filesystems */
  private readonly execTrash: string;
  private get subpaths(): string { return join(this.execRoot, 'subpaths'); }

  constructor(readonly dataRoot: string, readonly execRoot: string, readonly images: () => ImageStore, readonly cgroupParent = '/berth', net: { portsObeyInput?: boolean } = {}) {
    super();
    this.setMaxListeners(0);
    this.store = new ContainerStore(dataRoot, execRoot, (ev) => this.emit('event', ev));
    this.attachers = new Attachers((id) => this.store.shimDir(id));
    this.nets = new ContainerNetworks({ store: this.store, networks: () => this.networks, ownEtc: (r) => this.etcDir(r) === this.store.dir(r.Id) });
    mkdirSync(join(dataRoot, 'containers'), { recursive: true, mode: 0o710 });
    this.trash = join(dataRoot, 'trash');
    mkdirSync(this.trash, { recursive: true, mode: 0o700 });
    removeEntries(this.trash); // removals a crash cut short
    mkdirSync(join(execRoot, 's'), { recursive: true, mode: 0o700 });
    this.execTrash = join(execRoot, 'trash');
    mkdirSync(this.execTrash, { recursive: true, mode: 0o700 });
    removeEntries(this.execTrash);
    this.runtime = new Runtime(join(execRoot, 'runtime'));
    this.volumes = new VolumeStore(join(dataRoot, 'volumes'), (action, v) => this.publish('volume', action, v.Name, { driver: v.Driver }));
    this.networks = new Networks(join(dataRoot, 'network'), {
      ...hostNames(dataRoot, DEFAULT_DATA_ROOT), portsObeyInput: net.portsObeyInput,
      publish: (action, n, extra = {}) => this.publish('network', action, n.Id, { name: n.Name, type: n.Driver, ...extra }),
    });
  }

  // ---- records (records.ts) ----

  list(): ContainerRecord[] { return this.store.list(); }
  /** By full ID, name, or unique ID prefix, as docker resolves them. */
  get(ref: string): ContainerRecord { return this.store.get(ref); }
  get recentEvents(): EngineEvent[] { return this.store.recentEvents; }
  /** An event of any type (container, image, volume) for /events and its history. */
  publish(type: string, action: string, id: string, attributes: Record<string, string>, from = ''): void { this.store.publish(type, action, id, attributes, from); }
  volumeUsers(name: string): string[] { return this.store.volumeUsers(name); }
  rename(ref: string, name: string): void { this.store.rename(this.get(ref), name); }

  // ---- create (create.ts) ----

  /** Creates and starts under way at once: a burst is admitted a few at a time, so reads are served between them. */
  private readonly heavy = new Limiter(Math.max(2, 2 * availableParallelism()));

  create(input: unknown, name?: string | null, transient = false): Promise<{ Id: string; Warnings: string[] }> {
    return this.heavy.run(() => createContainer({
      store: this.store, images: this.images, volumes: this.volumes, networks: this.networks,
      discardUnsupported: (h) => this.unsupported(h),
      checkJoinable: (h) => { for (const field of JOINABLE) modeContainer(h, field, (ref) => this.get(ref)); },
    }, input, name, transient));
  }

  /** What this host cannot do of `h`, discarded with docker's warnings. */
  private unsupported(h: HostConfig): string[] { return discardUnsupported(h, this.runtime, this.cgroupParent); }

  // ---- start ----

  start(ref: string): Promise<void> {
    const r = this.get(ref);
    return this.store.serial(r.Id, () => this.heavy.run(() => this.startLocked(r)));
  }

  private async startLocked(r: ContainerRecord): Promise<void> {
    if (r.State.Running) { if (r.State.Paused) throw new Conflict('container', `cannot start a paused container, try unpause instead`); return; }
    if (!this.store.has(r.Id)) throw new NotFound('container', `No such container: ${r.Id}`);
    const dir = this.store.dir(r.Id);
    const rootfs = join(dir, 'rootfs');
    const shim = this.store.shimDir(r.Id);
    r.StoppedByUser = false;
    let staged: ReturnType<typeof stageSubpaths> | undefined;
    try {
      mountRoot(r, rootfs);
      const copyUp = r.Mounts.filter((m) => m.Type === 'volume' && m.Name && m.Mode !== 'nocopy');
      if (copyUp.length) await withRootDir(rootfs, async (root) => { for (const m of copyUp) await this.volumes.populate(m.Name!, root, m.Destination); });
      const joined = joinedNamespaces(r, (ref) => this.get(ref));
      const etc = this.etcFiles(r);
      staged = stageSubpaths(r, this.subpaths);
      const spec = ociSpec({
        id: r.Id, config: r.Config, host: r.HostConfig, rootfs, etcFiles: etc, joined,
        mounts: r.Mounts.map((m): SpecMount => ({ destination: m.Destination, type: 'bind', source: staged!.sources.get(m.Destination) ?? m.Source, options: ['rbind', m.RW ? 'rw' : 'ro', m.Propagation || 'rprivate'] })),
        initPath: r.HostConfig.Init ? initPath() : undefined, cgroupParent: this.cgroupParent,
      });
      mkdirSync(join(dir, 'bundle'), { recursive: true });
      writeFileAtomic(join(dir, 'bundle', 'config.json'), JSON.stringify(spec), { durable: false });
      rmSync(shim, { recursive: true, force: true });
      mkdirSync(shim, { recursive: true, mode: 0o700 });
      rmSync(this.store.exitFile(r.Id), { force: true });
      await this.runtime.delete(r.Id, true).catch(() => {}); // a leftover from a crash
      const logType = r.HostConfig.LogConfig?.Type ?? 'json-file';
      const log = logType === 'none' ? undefined : { path: r.LogPath, ...logOptions(logType, r.HostConfig.LogConfig?.Config ?? {}) };
      if (log) mkdirSync(dirname(log.path), { recursive: true });
      const joining = this.nets.joinEarly(r); // the network is made while the executor mounts
      const creating = this.runtime.create(r.Id, join(dir, 'bundle'), { consoleSocket: r.Config.Tty ? consoleSocket(shim) : undefined, onNamespaces: joining.at,
        via: shimVia({ dir: shim, exitFile: this.store.exitFile(r.Id), tty: !!r.Config.Tty, stdin: !!r.Config.OpenStdin, stdinOnce: !!r.Config.StdinOnce, log }),
      });
      // the shim's socket listens from its spawn: attach while the executor sets up (the process waits for start)
      const attaching = this.attachers.connectWaiting(r);
      const created = await creating;
      staged.release(); // the container's mount namespace has its own copies
      await attaching;
      joining.finish(created.state.pid);
      await this.runtime.start(r.Id);
      this.started(r, created.state.pid);
    } catch (e) {
      const msg = (e as Error).message;
      staged?.release();
      await this.runtime.delete(r.Id, true).catch(() => {});
      this.nets.release(r);
      unmountRoot(this.store.rootfs(r.Id));
      rmSync(shim, { recursive: true, force: true });
      this.store.setState(r, { Status: r.State.Status === 'created' ? 'created' : 'exited', Running: false, Pid: 0, ExitCode: 127, Error: msg });
      this.attachers.end(r.Id);
      this.releaseWaiters(r);
      if (r.HostConfig.AutoRemove) await this.removeLocked(r, { force: true, volumes: true }).catch(() => {});
      throw new StartError(msg);
    }
  }

  /** Records a start (its process runs as `pid`) and follows the process. */
  private started(r: ContainerRecord, pid: number): void {
    this.store.setState(r, { Status: 'running', Running: true, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: pid, ExitCode: 0, Error: '', StartedAt: now(), FinishedAt: ZERO_TIME, Health: undefined });
    this.store.volumeEvents(r, 'mount');
    this.store.event(r, 'start');
    this.monitor(r);
  }

  /**
   * A start that a crash cut short: the shim runs, the record was not yet
   * written. It is finished (the process is started if the runtime had only
   * created it) and recorded; what cannot be finished is rolled back.
   */
  private async finishStart(r: ContainerRecord): Promise<void> {
    const s = (() => { try { return this.runtime.load(r.Id); } catch { killShim(this.store.shimDir(r.Id)); return undefined; } })(); // never made: its shim holds nothing
    try {
      if (!s) throw new Error('not created');
      if (this.runtime.status(s) === 'created') await this.runtime.start(r.Id);
      if (this.runtime.status(s) !== 'running') throw new Error('not running');
      this.started(r, s.pid);
    } catch {
      await this.runtime.delete(r.Id, true).catch(() => {});
      this.nets.release(r);
      await waitExit(this.store.shimDir(r.Id), this.store.exitFile(r.Id));
      unmountRoot(this.store.rootfs(r.Id));
    }
  }

  /**
   * Where a container's hostname, hosts and resolv.conf are: its own
   * directory, or, with another container's network (container:NAME), that
   * container's. As in docker the files are shared, not copied: what one of
   * them changes, the other sees.
   */
  etcDir(r: ContainerRecord): string {
    let owner: ContainerRecord | undefined;
    try { owner = modeContainer(r.HostConfig, 'NetworkMode', (ref) => this.get(ref)); } catch { /* removed since: its own */ }
    return this.store.dir(owner?.Id ?? r.Id);
  }

  /** The container's /etc files: its own, written now, or its network owner's (container:NAME), written at that one's start. */
  private etcFiles(r: ContainerRecord): EtcFiles {
    const dir = this.etcDir(r);
    if (dir !== this.store.dir(r.Id)) return etcPaths(dir);
    let gateway = '';
    try { gateway = ipv4Config(this.networks.get('bridge'))?.Gateway ?? ''; } catch { /* no default bridge */ }
    return writeEtcFiles(r, dir, gateway);
  }

  /** The container's networks (networking.ts): joined at start, given back at its end, connected and disconnected on request. */
  private readonly nets: ContainerNetworks;
  /** `network connect`: the container joins the network now if it runs, and at every start. */
  connectNetwork(netRef: string, ref: string, cfg: EndpointSettings): Promise<void> { return this.nets.connect(netRef, this.get(ref), cfg); }
  /** `network disconnect`: off the network now if it runs, and from now on. */
  disconnectNetwork(netRef: string, ref: string, _force: boolean): Promise<void> { return this.nets.disconnect(netRef, this.get(ref)); }
  /** What inspect shows of a container's networks. */
  networkView(r: ContainerRecord): { network: NetworkRecord; endpoint?: EndpointRecord }[] { return this.nets.view(r); }

  /** Follows the shim until the process ends, then records the end. */
  private monitor(r: ContainerRecord): void {
    const pid = r.State.Pid;
    this.startHealth(r);
    const exited = waitExit(this.store.shimDir(r.Id), this.store.exitFile(r.Id));
    this.exits.set(r.Id, exited);
    void exited.then((exit) => {
      if (this.shutting) return; // the daemon is stopping: the next one re-adopts
      if (!this.store.holds(r) || r.State.Pid !== pid) return;
      return this.store.serial(r.Id, () => this.onExit(r, exit));
    });
  }

  /** The running process's end, as the monitor waits for it (stop and rm wait for the same). */
  private exitOf(r: ContainerRecord): Promise<ExitRecord> {
    return this.exits.get(r.Id) ?? waitExit(this.store.shimDir(r.Id), this.store.exitFile(r.Id));
  }

  /** Resolves everyone waiting for this container's next exit. */
  private releaseWaiters(r: ContainerRecord): void {
    for (const w of this.waiters.get(r.Id) ?? []) w(r);
    this.waiters.delete(r.Id);
  }

  private async onExit(r: ContainerRecord, exit: ExitRecord): Promise<void> {
    if (!r.State.Running) return;
    this.exits.delete(r.Id);
    this.stopHealth(r);
    let oom = false;
    try { oom = this.runtime.oomKills(r.Id) > 0; } catch { /* no cgroup any more */ }
    await this.runtime.delete(r.Id, true).catch(() => {});
    this.nets.release(r);
    unmountRoot(this.store.rootfs(r.Id));
    this.store.volumeEvents(r, 'unmount');
    discard(this.store.shimDir(r.Id), this.execTrash);
    r.State = { ...r.State, Status: 'exited', Running: false, Paused: false, Restarting: false, Pid: 0, ExitCode: exit.code, OOMKilled: oom, FinishedAt: exit.at.toISOString() };
    const restart = !this.shutting && restartWanted(r);
    // An auto-removed container's end is not written: its record goes next.
    // A crash in between leaves it "running" with its exit file, which the
    // next start records and removes.
    if (restart || !r.HostConfig.AutoRemove) void this.store.save(r).catch(() => { /* logged by save */ });
    this.attachers.end(r.Id);
    if (oom) this.store.event(r, 'oom');
    this.store.event(r, 'die', { exitCode: String(exit.code) });
    this.releaseWaiters(r);
    if (restart) this.scheduleRestart(r);
    else if (r.HostConfig.AutoRemove) await this.removeLocked(r, { force: true, volumes: true });
  }

  private scheduleRestart(r: ContainerRecord): void {
    const delay = restartDelay(r);
    this.store.setState(r, { Status: 'restarting', Restarting: true });
    this.restartTimers.set(r.Id, setTimeout(() => {
      this.restartTimers.delete(r.Id);
      if (!this.store.has(r.Id) || !r.State.Restarting) return;
      r.RestartCount++;
      this.start(r.Id).catch(() => this.store.setState(r, { Status: 'exited', Restarting: false }));
    }, delay));
  }

  // ---- stop, kill, wait, remove ----

  stop(ref: string, timeout?: number, signal?: string): Promise<boolean> {
    const r = this.get(ref);
    return this.store.serial(r.Id, async () => {
      this.cancelRestart(r);
      if (!r.State.Running) return false;
      r.StoppedByUser = true;
      const t = timeout ?? r.Config.StopTimeout ?? 10;
      if (r.State.Paused) await this.runtime.resume(r.Id).catch(() => {});
      try { this.runtime.kill(r.Id, signal || r.Config.StopSignal || 'SIGTERM'); } catch { /* exiting */ }
      const timer = t >= 0 ? setTimeout(() => { try { this.runtime.kill(r.Id, 'SIGKILL', true); } catch { /* gone */ } }, t * 1000) : undefined;
      await this.onExit(r, await this.exitOf(r));
      clearTimeout(timer);
      this.store.event(r, 'stop');
      return true;
    });
  }

  private cancelRestart(r: ContainerRecord): void {
    const t = this.restartTimers.get(r.Id);
    if (t) { clearTimeout(t); this.restartTimers.delete(r.Id); }
    if (r.State.Restarting) { r.StoppedByUser = true; this.store.setState(r, { Status: 'exited', Restarting: false }); }
  }

  private nextExit(r: ContainerRecord): Promise<ContainerRecord> {
    return new Promise((res) => { const l = this.waiters.get(r.Id) ?? []; l.push(res); this.waiters.set(r.Id, l); });
  }

  kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    const r = this.get(ref);
    return this.store.serial(r.Id, async () => {
      if (!r.State.Running) throw new Conflict('container', `Cannot kill container: ${ref}: container ${r.Id} is not running`);
      const n = signalNumber(signal);
      if (n === 9 || n === 15) r.StoppedByUser = true;
      this.runtime.kill(r.Id, signal);
      this.store.event(r, 'kill', { signal: String(n) });
      // as dockerd: a SIGKILL returns once the container is seen exited (inspect right after shows it), or after 10 s
      if (n !== 9) return;
      const exit = await Promise.race([this.exitOf(r), new Promise<undefined>((ok) => setTimeout(ok, 10000))]);
      if (exit) await this.onExit(r, exit);
    });
  }

  /** docker's wait conditions: not-running (default), next-exit, removed. */
  wait(ref: string, condition = 'not-running'): Promise<ContainerRecord> {
    const r = this.get(ref);
    if (condition === 'not-running' && !r.State.Running && !r.State.Restarting) return Promise.resolve(r);
    if (condition !== 'removed') return this.nextExit(r);
    return new Promise((res) => {
      const on = (e: { Action: string; id: string }) => { if (e.id === r.Id && (e.Action === 'destroy')) { this.off('event', on); res(r); } };
      this.on('event', on);
    });
  }

  remove(ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    const r = this.get(ref);
    return this.store.serial(r.Id, () => this.removeLocked(r, opts));
  }

  private async removeLocked(r: ContainerRecord, opts: { force?: boolean; volumes?: boolean }): Promise<void> {
    if (!this.store.has(r.Id)) return;
    // a container about to be restarted counts as running, as in dockerd
    const state = r.State.Restarting ? 'restarting' : r.State.Running ? 'running' : undefined;
    if (state && !opts.force) throw new Conflict('container', `cannot remove container "${r.Name}": container is ${state}: stop the container before removing or force remove`);
    this.cancelRestart(r);
    if (r.State.Running) {
      r.StoppedByUser = true;
      if (r.State.Paused) await this.runtime.resume(r.Id).catch(() => {});
      try { this.runtime.kill(r.Id, 'SIGKILL', true); } catch { /* gone */ }
      await this.onExit(r, await this.exitOf(r));
    }
    // not written: until the rename below, a crash leaves the container as it was
    r.State = { ...r.State, Status: 'removing' };
    this.store.delete(r.Id);
    await this.runtime.delete(r.Id, true).catch(() => {});
    unmountRoot(this.store.rootfs(r.Id));
    try { this.images().snapshots.release(`ctr-${r.Id}`); } catch { /* gone */ }
    discard(this.store.dir(r.Id), this.trash);
    discard(this.store.shimDir(r.Id), this.execTrash);
    if (opts.volumes) {
      for (const m of r.Mounts) {
        if (m.Type !== 'volume' || !m.Name) continue;
        try {
          const v = this.volumes.get(m.Name);
          if (v.Anonymous && this.volumeUsers(m.Name).length === 0) this.volumes.remove(m.Name, []);
        } catch { /* removed already */ }
      }
    }
    this.store.event(r, 'destroy');
  }

  pause(ref: string): Promise<void> {
    const r = this.get(ref);
    return this.store.serial(r.Id, async () => {
      if (!r.State.Running) throw new Conflict('container', `Container ${r.Id} is not running`);
      if (r.State.Paused) throw new Conflict('container', `Container ${r.Id} is already paused`);
      await this.runtime.pause(r.Id);
      this.store.setState(r, { Status: 'paused', Paused: true });
      this.store.event(r, 'pause');
    });
  }

  unpause(ref: string): Promise<void> {
    const r = this.get(ref);
    return this.store.serial(r.Id, async () => {
      if (!r.State.Paused) throw new Conflict('container', `Container ${r.Id} is not paused`);
      await this.runtime.resume(r.Id);
      this.store.setState(r, { Status: 'running', Paused: false });
      this.store.event(r, 'unpause');
    });
  }

  /** `update`: resources and restart policy; a running container's cgroup changes at once. */
  update(ref: string, body: Record<string, unknown>): Promise<{ Warnings: string[] }> {
    const r = this.get(ref);
    const checked = checkUpdate(body);
    return this.store.serial(r.Id, async () => {
      const next = updatedHostConfig(r.HostConfig, checked);
      const warnings = this.unsupported(next);
      if (r.State.Running) {
        const spec = ociSpec({ id: r.Id, config: r.Config, host: next, rootfs: this.store.rootfs(r.Id), etcFiles: { hostname: '', hosts: '', resolvConf: '' }, mounts: [], cgroupParent: this.cgroupParent });
        this.runtime.update(r.Id, (spec.linux as { resources: unknown }).resources);
      }
      r.HostConfig = next;
      await this.store.save(r);
      this.store.event(r, 'update');
      return { Warnings: warnings };
    });
  }

  // ---- attach ----

  /** Joins a client to the container's stdio: now if it runs, else when it starts. */
  attach(ref: string, socket: Socket, streams: AttachStreams): Promise<void> { return this.attachers.attach(this.get(ref), socket, streams); }

  async resizeTty(ref: string, rows: number, cols: number): Promise<void> {
    const r = this.get(ref);
    if (!r.State.Running) throw new Conflict('container', `Container ${r.Id} is not running`);
    if (!r.Config.Tty) return;
    await resize(this.store.shimDir(r.Id), rows, cols);
  }

  // ---- exec ----

  /** Execs in running containers (exec.ts). */
  private readonly execs = new Execs({
    get: (ref) => this.get(ref), etcDir: (r) => this.etcDir(r), event: (r, action, extra) => this.store.event(r, action, extra),
    rootfs: (r) => join(this.store.dir(r.Id), 'rootfs'), runtime: () => this.runtime, execRoot: () => this.execRoot, execTrash: () => this.execTrash, cgroupParent: () => this.cgroupParent,
  });

  execCreate(ref: string, body: Record<string, unknown>): { Id: string } { return this.execs.create(ref, body); }
  execInspect(id: string) { return this.execs.inspect(id); }
  execIds(r: ContainerRecord): string[] | null { return this.execs.running(r.Id); }
  /** Starts an exec; with a socket its stdio is attached until it ends. */
  execStart(id: string, socket: Socket | undefined, opts: { detach?: boolean; raw?: boolean; direct?: number } = {}): Promise<void> { return this.execs.start(id, socket, opts); }
  execResize(id: string, rows: number, cols: number): Promise<void> { return this.execs.resize(id, rows, cols); }

  // ---- health checks ----

  /** HEALTHCHECKs of running containers (health.ts), run as execs. */
  private readonly health = new HealthChecks({
    setState: (r, st) => this.store.setState(r, st), event: (r, action) => this.store.event(r, action), execs: () => this.execs, shutting: () => this.shutting,
  });

  private startHealth(r: ContainerRecord): void { this.health.start(r); }
  private stopHealth(r: ContainerRecord): void { this.health.stop(r); }

  // ---- the filesystem: export, cp, diff, commit ----

  /** The container's files (files.ts): cp, the archive API, export, diff and commit, resolved inside its root by fd. */
  private readonly files = new ContainerFiles({
    rootfs: (r) => this.store.rootfs(r.Id), etcDir: (r) => this.etcDir(r), images: () => this.images(), event: (r, action) => this.store.event(r, action),
    pause: (r) => this.runtime.pause(r.Id), resume: (r) => this.runtime.resume(r.Id),
  });

  /** `export`: the whole root filesystem as a tar (volumes are not part of it, as with docker). */
  export(ref: string, out: Writable): Promise<void> { return this.files.export(this.get(ref), out); }

  /** docker's path stat (X-Docker-Container-Path-Stat): name, size, Go file mode, mtime, link target. */
  statPath(ref: string, path: string): Promise<PathStat> { return this.files.statPath(this.get(ref), path); }

  /** `cp CONTAINER:PATH -`: a tar of the path. */
  getArchive(ref: string, path: string, begin: (stat: PathStat) => Writable): Promise<void> { return this.files.getArchive(this.get(ref), path, begin); }

  /** `cp - CONTAINER:DIR`: unpacks a tar into a directory of the container, confined to its root. */
  putArchive(ref: string, path: string, src: Readable): Promise<void> { return this.files.putArchive(this.get(ref), path, src); }

  /** `diff`: what the container changed (0 modified, 1 added, 2 deleted). */
  changes(ref: string): Promise<{ Path: string; Kind: number }[]> { return this.files.changes(this.get(ref)); }

  withFiles<T>(ref: string, fn: (root: RootDir) => Promise<T> | T): Promise<T> { return this.files.rootFiles(this.get(ref), fn); } // a stopped one's own root, by fd (a build step's)

  /** `commit`: the container's changes as a new image on top of its own. */
  commit(ref: string, o: CommitOptions): Promise<string> { return this.files.commit(this.get(ref), o); }

  // ---- daemon start and stop ----

  /** Loads every record; re-adopts running containers from their shims; finishes what a crash interrupted. */
  async restore(): Promise<void> {
    for (const e of existsSync(this.subpaths) ? readdirSync(this.subpaths) : []) releaseStaged(join(this.subpaths, e)); // binds a crash left mid-start
    const root = join(this.dataRoot, 'containers');
    for (const id of readdirSync(root)) {
      const f = join(root, id, 'config.v2.json');
      if (!existsSync(f)) { rmSync(join(root, id), { recursive: true, force: true }); continue; } // a create a crash cut short
      let r: ContainerRecord;
      try { r = JSON.parse(readFileSync(f, 'utf8')) as ContainerRecord; } catch { continue; }
      this.store.add(r);
      if (r.State.Status === 'removing') await this.removeLocked(r, { force: true });
    }
    const restarts: ContainerRecord[] = [];
    for (const r of this.store.all()) {
      if (r.State.Running) {
        if (await this.shimAnswers(r)) { this.monitor(r); continue; }
        await this.onExit(r, readExit(this.store.exitFile(r.Id)) ?? { code: 255, at: new Date() });
      } else if (await this.shimAnswers(r)) {
        await this.finishStart(r);
      } else if (r.State.Restarting) {
        restarts.push(r);
      } else if (r.HostConfig.RestartPolicy?.Name === 'always' && !r.StoppedByUser && r.State.Status === 'exited') {
        restarts.push(r);
      }
    }
    // endpoints of containers that ended while berthd was down are given back; bridges a reboot took are made again
    try { this.networks.restore((id) => (this.store.has(id) && this.get(id).State.Running ? this.get(id).State.Pid : undefined)); } catch (e) { process.stderr.write(`berthd: networks: ${(e as Error).message}\n`); }
    for (const r of restarts) this.start(r.Id).catch(() => {});
  }

  /** Whether the container's shim still holds a process (it answers on its socket and wrote no exit). */
  private async shimAnswers(r: ContainerRecord): Promise<boolean> {
    if (!existsSync(join(this.store.shimDir(r.Id), 'shim.sock')) || readExit(this.store.exitFile(r.Id))) return false;
    try { (await request(this.store.shimDir(r.Id), 'ping')).destroy(); return true; } catch { return false; }
  }

  /** The daemon stops: containers keep running (live restore); timers stop. */
  shutdown(): void {
    this.shutting = true;
    this.networks.shutdown();
    for (const t of this.restartTimers.values()) clearTimeout(t);
    this.health.stopAll();
  }
}


export class StartError extends Error {}


/** berth's --init (native/init), bind-mounted at /sbin/berth-init. */
const initPath = () => nativeBuild('berth-init');
