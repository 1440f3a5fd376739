// The container lifecycle behind the API: create, start, stop, kill, wait,
// remove, pause, exec, attach, and the re-adoption of running containers
// when the daemon starts. Records live in <data>/containers/<id>/config.v2.json
// (written atomically); each running process is held by a berth-shim.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { availableParallelism } from 'node:os';
import { writeFileAtomic, writeFileAtomicAsync } from '../util/atomic.js';
import { Limiter } from '../util/limit.js';
import { Conflict, DockerWords, InvalidInput, NotFound } from '../util/check.js';
import { discard, fsx, removeEntries } from '../util/fsx.js';
import { nativeBuild } from '../util/project.js';
import type { ImageStore } from '../image/store.js';
import { mountAll, type Mount } from '../image/snapshots.js';
import { parseReference } from '../image/reference.js';
import { commitImage } from '../image/archive.js';
import { Runtime } from '../runtime/container.js';
import { signalNumber } from '../runtime/signals.js';
import { INIT_TARGET, ociSpec, type SpecMount } from './spec.js';
import { mountPointEntries } from '../image/layer/diff.js';
import { consoleSocket, readExit, replyLine, request, resize, shimVia, waitExit, type ExitRecord } from './shim.js';
import { VolumeStore } from './volumes.js';
import { ContainerFiles, containerChanges, type PathStat } from './files.js';
import { parseDetachKeys, pipeAttach, withClientOutput } from './attach.js';
import { logOptions } from './log-options.js';
import { Execs } from './exec.js';
import { containerConfig } from './container-config.js';
import { HealthChecks } from './health.js';

export { ExecStartError, type ExecRecord } from './exec.js';

export { parseDetachKeys };
import { withRootDir } from '../image/confined/index.js';
import { checkCreateBody, checkHostConfig, extraHost } from './validate.js';
import { ZERO_TIME, type ContainerConfig, type ContainerState, type HostConfig, type MountPoint } from './types.js';

export interface ContainerRecord {
  Id: string;
  Name: string;
  Created: string;
  Path: string;
  Args: string[];
  Image: string;
  ImageName: string;
  Config: ContainerConfig;
  HostConfig: HostConfig;
  State: ContainerState;
  RestartCount: number;
  Mounts: MountPoint[];
  LogPath: string;
  /** the root filesystem's mounts (data from the snapshotter) */
  RootMounts: Mount[];
  /** set by `stop`/`kill` from a user: restart policies leave the container alone */
  StoppedByUser?: boolean;
}

/** `direct`: the pid of a client that asked for its output on its own stdout and stderr (see clientOutput). */
interface Attacher { socket: Socket; stdin: boolean; stdout: boolean; stderr: boolean; detachKeys?: Buffer; direct?: number; ended: () => void }


const ADJ = ['brave', 'calm', 'eager', 'fancy', 'gentle', 'happy', 'jolly', 'keen', 'lucid', 'merry', 'nimble', 'proud', 'quiet', 'rapid', 'sharp', 'tidy', 'vivid', 'witty', 'zen', 'bold'];
const NOUN = ['anchor', 'barge', 'buoy', 'cargo', 'dock', 'ferry', 'harbor', 'hull', 'jetty', 'keel', 'mast', 'pier', 'quay', 'rudder', 'sail', 'skiff', 'stern', 'tug', 'wharf', 'yacht'];
const NAME_RE = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const now = () => new Date().toISOString();

export class Engine extends EventEmitter {
  readonly runtime: Runtime;
  readonly volumes: VolumeStore;
  private records = new Map<string, ContainerRecord>();
  private attachers = new Map<string, Attacher[]>();
  private waiters = new Map<string, ((r: ContainerRecord) => void)[]>();
  private exits = new Map<string, Promise<ExitRecord>>();
  private locks = new Map<string, Promise<unknown>>();
  private restartTimers = new Map<string, NodeJS.Timeout>();
  private shutting = false;
  private readonly trash: string;
  /** the exec root's own trash: shim directories are renamed there, never across filesystems */
  private readonly execTrash: string;

  constructor(readonly dataRoot: string, readonly execRoot: string, readonly images: () => ImageStore, readonly cgroupParent = '/berth') {
    super();
    this.setMaxListeners(0);
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
  }

  // ---- records ----

  private dir(id: string) { return join(this.dataRoot, 'containers', id); }
  private shimDir(id: string) { return join(this.execRoot, 's', id.slice(0, 24)); }
  private exitFile(id: string) { return join(this.dir(id), 'exit'); }

  /** Writes still under way, per container: a record's writes go to disk in the order they were made. */
  private saving = new Map<string, Promise<void>>();

  /**
   * Writes the record as it is now, atomically and durably, after any
   * write of it still under way. The disk's waits are not the event
   * loop's: reads (ps, inspect) are served meanwhile. A failed write is
   * logged; the caller that awaits it also sees it.
   */
  private save(r: ContainerRecord): Promise<void> {
    const f = join(this.dir(r.Id), 'config.v2.json');
    const data = JSON.stringify(r);
    const next = (this.saving.get(r.Id) ?? Promise.resolve()).then(() => writeFileAtomicAsync(f, data, { replacing: () => existsSync(f) }));
    const tail = next.catch((e: Error) => { if (this.records.has(r.Id)) process.stderr.write(`berthd: saving container ${r.Id}: ${e.message}\n`); });
    this.saving.set(r.Id, tail);
    void tail.then(() => { if (this.saving.get(r.Id) === tail) this.saving.delete(r.Id); });
    return next;
  }

  /** One operation at a time per container: concurrent API calls see consistent state. */
  private serial<T>(id: string, fn: () => Promise<T> | T): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    this.locks.set(id, tail);
    void tail.then(() => { if (this.locks.get(id) === tail) this.locks.delete(id); });
    return next;
  }

  list(): ContainerRecord[] {
    return [...this.records.values()].sort((a, b) => b.Created.localeCompare(a.Created));
  }

  /** By full ID, name, or unique ID prefix, as docker resolves them. */
  get(ref: string): ContainerRecord {
    const byId = this.records.get(ref);
    if (byId) return byId;
    const name = ref.startsWith('/') ? ref : `/${ref}`;
    for (const r of this.records.values()) if (r.Name === name) return r;
    if (/^[0-9a-f]+$/.test(ref)) {
      const hits = [...this.records.values()].filter((r) => r.Id.startsWith(ref));
      if (hits.length === 1) return hits[0]!;
      if (hits.length > 1) throw new InvalidInput('container', `multiple IDs found with provided prefix: ${ref}`);
    }
    throw new NotFound('container', `No such container: ${ref}`);
  }

  private setState(r: ContainerRecord, s: Partial<ContainerState>): void {
    r.State = { ...r.State, ...s };
    void this.save(r).catch(() => { /* logged by save */ });
  }

  /** The latest events, oldest first, for `events --since` (docker keeps 256 too). */
  readonly recentEvents: EngineEvent[] = [];

  /** An event of any type (container, image, volume) for /events and its history. */
  publish(type: string, action: string, id: string, attributes: Record<string, string>, from = ''): void {
    const t = Date.now();
    const ev: EngineEvent = {
      Type: type, Action: action, status: action, id, from, Actor: { ID: id, Attributes: attributes },
      scope: 'local', time: Math.floor(t / 1000), timeNano: t * 1e6,
    };
    this.recentEvents.push(ev);
    if (this.recentEvents.length > 256) this.recentEvents.shift();
    this.emit('event', ev);
  }

  private event(r: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
    this.publish('container', action, r.Id, { image: r.ImageName, name: r.Name.slice(1), ...(r.Config.Labels ?? {}), ...extra }, r.ImageName);
  }

  // ---- create ----

  /** Creates and starts under way at once: a burst is admitted a few at a time, so reads are served between them. */
  private readonly heavy = new Limiter(Math.max(2, 2 * availableParallelism()));

  create(input: unknown, name?: string | null): Promise<{ Id: string; Warnings: string[] }> {
    return this.heavy.run(() => this.createNow(input, name));
  }

  private async createNow(input: unknown, name?: string | null): Promise<{ Id: string; Warnings: string[] }> {
    const body = checkCreateBody(input);
    if (name !== undefined && name !== null && name !== '' && !NAME_RE.test(name)) {
      throw new InvalidInput('name', `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    }
    const imageRef = body.Image;
    if (typeof imageRef !== 'string' || !imageRef) throw new InvalidInput('Image', 'is required');
    if (!/^(sha256:)?[0-9a-f]{1,64}$/.test(imageRef)) parseReference(imageRef); // a malformed name is a 400, not a 404
    const store = this.images();
    const img = store.resolve(imageRef);
    const ic = (store.config(img).config ?? {}) as unknown as Record<string, unknown>;
    const host = (body.HostConfig ?? {}) as HostConfig;
    checkHostConfig(host, body.Hostname);
    const warnings = this.unsupported(host);
    // container:NAME modes name a container that exists now, as docker checks at create (it must run at start)
    for (const field of JOINABLE) this.modeContainer(host, field);
    for (const [i, link] of (host.Links ?? []).entries()) {
      const target = link.split(':')[0]!.replace(/^\//, '');
      try { this.get(target); } catch { throw new InvalidInput(`HostConfig.Links[${i}]`, `could not get container for ${target}`); }
    }

    const id = randomBytes(32).toString('hex');
    const { config, entrypoint, cmd } = containerConfig(body, ic, id);
    if (config.StopSignal) signalNumber(config.StopSignal); // refuse an unknown one now
    const logType = host.LogConfig?.Type || 'json-file';
    if (!['json-file', 'local', 'none'].includes(logType)) throw new InvalidInput('HostConfig.LogConfig.Type', `logging driver "${logType}" is not available (json-file, local, none)`);
    if (logType !== 'none') logOptions(logType, host.LogConfig?.Config ?? {}); // a bad --log-opt is refused now, not at start
    // the name is held from here (the store's writes below let other creates run): a second create of it is refused
    const cname = this.reserveName(name);
    const dir = this.dir(id);
    try {
      const mounts = this.planMounts(config, host);
      mkdirSync(dir, { mode: 0o710 });
      const rootMounts = await store.prepareRoot(`ctr-${id}`, img, !!host.AutoRemove);
      const r: ContainerRecord = {
        Id: id, Name: cname, Created: now(), Path: [...entrypoint, ...cmd][0]!, Args: [...entrypoint, ...cmd].slice(1),
        Image: img.id, ImageName: imageRef, Config: config, HostConfig: { NetworkMode: 'none', ...host, LogConfig: { Type: logType, Config: host.LogConfig?.Config ?? {} } },
        State: { Status: 'created', Running: false, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: 0, ExitCode: 0, Error: '', StartedAt: ZERO_TIME, FinishedAt: ZERO_TIME },
        RestartCount: 0, Mounts: mounts, LogPath: logType === 'none' ? '' : logType === 'local' ? join(dir, 'local-logs', 'container.log') : join(dir, `${id}-json.log`), RootMounts: rootMounts,
      };
      this.records.set(id, r);
      try { await this.save(r); } catch (e) { this.records.delete(id); throw e; }
      this.event(r, 'create');
      return { Id: id, Warnings: warnings };
    } catch (e) {
      try { store.snapshots.release(`ctr-${id}`); } catch { /* none made */ }
      rmSync(dir, { recursive: true, force: true });
      throw e;
    } finally {
      this.reservedNames.delete(cname);
    }
  }

  /** Names held by creates under way. */
  private readonly reservedNames = new Set<string>();

  /** The name asked for (refused when a container or a create under way has it), or a new one; held until released. */
  private reserveName(name: string | null | undefined): string {
    const taken = (n: string) => this.reservedNames.has(n) || [...this.records.values()].some((r) => r.Name === n);
    let cname = name ? (name.startsWith('/') ? name : `/${name}`) : '';
    if (cname) {
      const other = [...this.records.values()].find((r) => r.Name === cname);
      if (other) throw new Conflict('name', `Conflict. The container name "${cname}" is already in use by container "${other.Id}". You have to remove (or rename) that container to be able to reuse that name.`);
      if (this.reservedNames.has(cname)) throw new Conflict('name', `Conflict. The container name "${cname}" is already in use by a container being created. You have to remove (or rename) that container to be able to reuse that name.`);
    } else {
      do cname = `/${ADJ[randomBytes(1)[0]! % ADJ.length]}_${NOUN[randomBytes(1)[0]! % NOUN.length]}${randomBytes(1)[0]! % 100}`;
      while (taken(cname));
    }
    this.reservedNames.add(cname);
    return cname;
  }

  /** Binds, --mount, image VOLUMEs and --volumes-from as mount points (volumes created here). */
  private planMounts(c: ContainerConfig, h: HostConfig): MountPoint[] {
    const out: MountPoint[] = [];
    const add = (m: MountPoint) => {
      if (!m.Destination.startsWith('/')) throw new InvalidInput('HostConfig.Binds', `invalid mount config: mount path must be absolute: "${m.Destination}"`);
      if (out.some((o) => o.Destination === m.Destination)) throw new InvalidInput('HostConfig.Binds', `Duplicate mount point: ${m.Destination}`);
      out.push(m);
    };
    for (const b of h.Binds ?? []) {
      const parts = b.split(':');
      if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1]) throw new InvalidInput('HostConfig.Binds', `invalid volume specification: "${b}"`);
      const [src, dst, mode = ''] = parts as [string, string, string?];
      if (dst.replace(/\/+$/, '') === '') throw new DockerWords('HostConfig.Binds', `invalid volume specification: '${b}': invalid mount config for type "${src.startsWith('/') ? 'bind' : 'volume'}": invalid specification: destination can't be '/'`);
      const opts = mode.split(',').filter(Boolean);
      for (const o of opts) if (!['ro', 'rw', 'z', 'Z', 'shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate', 'nocopy'].includes(o)) throw new InvalidInput('HostConfig.Binds', `invalid mode: ${o} in "${b}"`);
      const rw = !opts.includes('ro');
      const prop = opts.find((o) => /^r?(shared|slave|private)$/.test(o)) ?? 'rprivate';
      if (src.startsWith('/')) {
        if (!existsSync(src)) mkdirSync(src, { recursive: true }); // docker creates a missing bind source
        add({ Type: 'bind', Source: src, Destination: dst, Mode: mode, RW: rw, Propagation: prop });
      } else {
        const v = this.volumes.create(src);
        add({ Type: 'volume', Name: v.Name, Source: v.Mountpoint, Destination: dst, Driver: 'local', Mode: mode || 'z', RW: rw, Propagation: '' });
      }
    }
    for (const m of h.Mounts ?? []) {
      if (!m.Target) throw new InvalidInput('HostConfig.Mounts', 'Target must not be empty');
      if (m.Target.replace(/\/+$/, '') === '') throw new DockerWords('HostConfig.Mounts', `invalid mount config for type "${m.Type}": invalid specification: destination can't be '/'`);
      if (m.Type === 'bind') {
        if (!m.Source || !m.Source.startsWith('/')) throw new InvalidInput('HostConfig.Mounts', `invalid mount config for type "bind": invalid mount path: '${m.Source ?? ''}' mount path must be absolute`);
        if (!existsSync(m.Source)) throw new InvalidInput('HostConfig.Mounts', `invalid mount config for type "bind": bind source path does not exist: ${m.Source}`);
        add({ Type: 'bind', Source: m.Source, Destination: m.Target, Mode: '', RW: !m.ReadOnly, Propagation: m.BindOptions?.Propagation ?? 'rprivate' });
      } else if (m.Type === 'volume') {
        const v = this.volumes.create(m.Source || undefined, m.VolumeOptions?.Labels ?? {}, { anonymous: !m.Source });
        add({ Type: 'volume', Name: v.Name, Source: v.Mountpoint, Destination: m.Target, Driver: 'local', Mode: m.VolumeOptions?.NoCopy ? 'nocopy' : 'z', RW: !m.ReadOnly, Propagation: '' });
      } else if (m.Type === 'tmpfs') {
        h.Tmpfs = { ...(h.Tmpfs ?? {}), [m.Target]: [m.TmpfsOptions?.SizeBytes ? `size=${m.TmpfsOptions.SizeBytes}` : '', m.TmpfsOptions?.Mode ? `mode=${m.TmpfsOptions.Mode.toString(8)}` : ''].filter(Boolean).join(',') };
      } else throw new InvalidInput('HostConfig.Mounts', `mount type unknown: "${(m as { Type: string }).Type}"`);
    }
    for (const from of h.VolumesFrom ?? []) {
      const [ref, mode] = from.split(':') as [string, string?];
      for (const m of this.get(ref).Mounts) {
        if (!out.some((o) => o.Destination === m.Destination)) out.push({ ...m, RW: mode === 'ro' ? false : m.RW });
      }
    }
    for (const dest of Object.keys(c.Volumes ?? {})) {
      if (out.some((o) => o.Destination === dest) || (h.Tmpfs && dest in h.Tmpfs)) continue;
      const v = this.volumes.create(undefined, {}, { anonymous: true });
      out.push({ Type: 'volume', Name: v.Name, Source: v.Mountpoint, Destination: dest, Driver: 'local', Mode: '', RW: true, Propagation: '' });
    }
    return out;
  }

  // ---- start ----

  start(ref: string): Promise<void> {
    const r = this.get(ref);
    return this.serial(r.Id, () => this.heavy.run(() => this.startLocked(r)));
  }

  private async startLocked(r: ContainerRecord): Promise<void> {
    if (r.State.Running) { if (r.State.Paused) throw new Conflict('container', `cannot start a paused container, try unpause instead`); return; }
    if (!this.records.has(r.Id)) throw new NotFound('container', `No such container: ${r.Id}`);
    const dir = this.dir(r.Id);
    const rootfs = join(dir, 'rootfs');
    const shim = this.shimDir(r.Id);
    r.StoppedByUser = false;
    try {
      mkdirSync(rootfs, { recursive: true });
      if (!isMounted(rootfs)) mountAll(r.RootMounts, rootfs);
      const copyUp = r.Mounts.filter((m) => m.Type === 'volume' && m.Name && m.Mode !== 'nocopy');
      if (copyUp.length) await withRootDir(rootfs, async (root) => { for (const m of copyUp) await this.volumes.populate(m.Name!, root, m.Destination); });
      const joined = this.joinedNamespaces(r);
      const etc = this.etcFiles(r);
      const spec = ociSpec({
        id: r.Id, config: r.Config, host: r.HostConfig, rootfs, etcFiles: etc, joined,
        mounts: r.Mounts.map((m): SpecMount => ({ destination: m.Destination, type: 'bind', source: m.Source, options: ['rbind', m.RW ? 'rw' : 'ro', m.Propagation || 'rprivate'] })),
        initPath: r.HostConfig.Init ? initPath() : undefined, cgroupParent: this.cgroupParent,
      });
      mkdirSync(join(dir, 'bundle'), { recursive: true });
      writeFileAtomic(join(dir, 'bundle', 'config.json'), JSON.stringify(spec), { durable: false });
      rmSync(shim, { recursive: true, force: true });
      mkdirSync(shim, { recursive: true, mode: 0o700 });
      rmSync(this.exitFile(r.Id), { force: true });
      await this.runtime.delete(r.Id, true).catch(() => {}); // a leftover from a crash
      const logType = r.HostConfig.LogConfig?.Type ?? 'json-file';
      const log = logType === 'none' ? undefined : { path: r.LogPath, ...logOptions(logType, r.HostConfig.LogConfig?.Config ?? {}) };
      if (log) mkdirSync(dirname(log.path), { recursive: true });
      const creating = this.runtime.create(r.Id, join(dir, 'bundle'), {
        consoleSocket: r.Config.Tty ? consoleSocket(shim) : undefined,
        via: shimVia({ dir: shim, exitFile: this.exitFile(r.Id), tty: !!r.Config.Tty, stdin: !!r.Config.OpenStdin, stdinOnce: !!r.Config.StdinOnce, log }),
      });
      // the shim's socket listens from its spawn: attach while the executor sets up (the process waits for start)
      const attaching = this.connectAttachers(r);
      const created = await creating;
      await attaching;
      await this.runtime.start(r.Id);
      this.started(r, created.state.pid);
    } catch (e) {
      const msg = (e as Error).message;
      await this.runtime.delete(r.Id, true).catch(() => {});
      this.unmountRoot(r);
      rmSync(shim, { recursive: true, force: true });
      this.setState(r, { Status: r.State.Status === 'created' ? 'created' : 'exited', Running: false, Pid: 0, ExitCode: 127, Error: msg });
      this.endAttachers(r.Id);
      this.releaseWaiters(r);
      if (r.HostConfig.AutoRemove) await this.removeLocked(r, { force: true, volumes: true }).catch(() => {});
      throw new StartError(msg);
    }
  }

  /** docker's volume events as a container's volumes are put in place (mount) and left (unmount). */
  private volumeEvents(r: ContainerRecord, action: 'mount' | 'unmount'): void {
    for (const m of r.Mounts) {
      if (m.Type !== 'volume' || !m.Name) continue;
      const driver = m.Driver || 'local';
      this.publish('volume', action, m.Name, action === 'mount'
        ? { container: r.Id, destination: m.Destination, driver, propagation: m.Propagation, 'read/write': String(m.RW) }
        : { container: r.Id, driver });
    }
  }

  /** Records a start (its process runs as `pid`) and follows the process. */
  private started(r: ContainerRecord, pid: number): void {
    this.setState(r, { Status: 'running', Running: true, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: pid, ExitCode: 0, Error: '', StartedAt: now(), FinishedAt: ZERO_TIME, Health: undefined });
    this.volumeEvents(r, 'mount');
    this.event(r, 'start');
    this.monitor(r);
  }

  /**
   * A start that a crash cut short: the shim runs, the record was not yet
   * written. It is finished (the process is started if the runtime had only
   * created it) and recorded; what cannot be finished is rolled back.
   */
  private async finishStart(r: ContainerRecord): Promise<void> {
    try {
      const s = this.runtime.load(r.Id);
      if (this.runtime.status(s) === 'created') await this.runtime.start(r.Id);
      if (this.runtime.status(s) !== 'running') throw new Error('not running');
      this.started(r, s.pid);
    } catch {
      await this.runtime.delete(r.Id, true).catch(() => {});
      await waitExit(this.shimDir(r.Id), this.exitFile(r.Id));
      this.unmountRoot(r);
    }
  }

  /** The container a "container:NAME" mode names (undefined for any other mode); a missing one is refused by the field's name. */
  private modeContainer(h: HostConfig, field: (typeof JOINABLE)[number]): ContainerRecord | undefined {
    const mode = h[field] ?? '';
    if (!mode.startsWith('container:')) return undefined;
    try { return this.get(mode.slice(10)); } catch { throw new InvalidInput(`HostConfig.${field}`, `no such container: ${mode.slice(10)}`); }
  }

  /** --network/--ipc/--pid container:NAME: the running container whose namespace each joins, by its init's pid. */
  private joinedNamespaces(r: ContainerRecord): Partial<Record<'network' | 'ipc' | 'pid', number>> {
    const out: Partial<Record<'network' | 'ipc' | 'pid', number>> = {};
    for (const field of JOINABLE) {
      const other = this.modeContainer(r.HostConfig, field);
      if (!other) continue;
      const type = ({ NetworkMode: 'network', IpcMode: 'ipc', PidMode: 'pid' } as const)[field];
      if (other.Id === r.Id) throw new InvalidInput(`HostConfig.${field}`, 'cannot join the container\'s own namespace');
      if (!other.State.Running) throw new Conflict('container', `cannot join the ${type} namespace of ${other.Name.slice(1)}: it is not running`);
      out[type] = other.State.Pid;
    }
    return out;
  }

  /**
   * Where a container's hostname, hosts and resolv.conf are: its own
   * directory, or, with another container's network (container:NAME), that
   * container's. As in docker the files are shared, not copied: what one of
   * them changes, the other sees.
   */
  etcDir(r: ContainerRecord): string {
    let owner: ContainerRecord | undefined;
    try { owner = this.modeContainer(r.HostConfig, 'NetworkMode'); } catch { /* removed since: its own */ }
    return this.dir(owner?.Id ?? r.Id);
  }

  private etcFiles(r: ContainerRecord) {
    const dir = this.etcDir(r);
    const hostname = join(dir, 'hostname'), hosts = join(dir, 'hosts'), resolv = join(dir, 'resolv.conf');
    if (dir !== this.dir(r.Id)) return { hostname, hosts, resolvConf: resolv }; // the network's owner's, which it wrote at its start
    const host = r.HostConfig.NetworkMode === 'host';
    writeFileSync(hostname, `${host ? readFileSync('/etc/hostname', 'utf8').trim() : r.Config.Hostname}\n`);
    const extra = (r.HostConfig.ExtraHosts ?? []).map((e, i) => extraHost(e, `HostConfig.ExtraHosts[${i}]`)).map(([n, ip]) => `${ip}\t${n}\n`).join('');
    const base = host ? readFileSync('/etc/hosts', 'utf8') : `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n`;
    writeFileSync(hosts, `${base}${base.endsWith('\n') || !base ? '' : '\n'}${extra}`);
    let hostResolv = '';
    try { hostResolv = readFileSync('/etc/resolv.conf', 'utf8'); } catch { /* none on the host */ }
    writeFileSync(resolv, resolvConf(hostResolv, r.HostConfig));
    return { hostname, hosts, resolvConf: resolv };
  }

  private unmountRoot(r: ContainerRecord): void {
    const rootfs = join(this.dir(r.Id), 'rootfs');
    for (let i = 0; i < 4 && isMounted(rootfs); i++) {
      try { fsx().umount(rootfs); } catch { try { fsx().umount(rootfs, true); } catch { /* not mounted */ } }
    }
  }

  /** Follows the shim until the process ends, then records the end. */
  private monitor(r: ContainerRecord): void {
    const pid = r.State.Pid;
    this.startHealth(r);
    const exited = waitExit(this.shimDir(r.Id), this.exitFile(r.Id));
    this.exits.set(r.Id, exited);
    void exited.then((exit) => {
      if (this.shutting) return; // the daemon is stopping: the next one re-adopts
      if (this.records.get(r.Id) !== r || r.State.Pid !== pid) return;
      return this.serial(r.Id, () => this.onExit(r, exit));
    });
  }

  /** The running process's end, as the monitor waits for it (stop and rm wait for the same). */
  private exitOf(r: ContainerRecord): Promise<ExitRecord> {
    return this.exits.get(r.Id) ?? waitExit(this.shimDir(r.Id), this.exitFile(r.Id));
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
    this.unmountRoot(r);
    this.volumeEvents(r, 'unmount');
    discard(this.shimDir(r.Id), this.execTrash);
    r.State = { ...r.State, Status: 'exited', Running: false, Paused: false, Restarting: false, Pid: 0, ExitCode: exit.code, OOMKilled: oom, FinishedAt: exit.at.toISOString() };
    const restart = this.shouldRestart(r);
    // An auto-removed container's end is not written: its record goes next.
    // A crash in between leaves it "running" with its exit file, which the
    // next start records and removes.
    if (restart || !r.HostConfig.AutoRemove) void this.save(r).catch(() => { /* logged by save */ });
    this.endAttachers(r.Id);
    if (oom) this.event(r, 'oom');
    this.event(r, 'die', { exitCode: String(exit.code) });
    this.releaseWaiters(r);
    if (restart) this.scheduleRestart(r);
    else if (r.HostConfig.AutoRemove) await this.removeLocked(r, { force: true, volumes: true });
  }

  private shouldRestart(r: ContainerRecord): boolean {
    if (r.StoppedByUser || this.shutting) return false;
    const p = r.HostConfig.RestartPolicy;
    switch (p?.Name) {
      case 'always': case 'unless-stopped': return true;
      case 'on-failure': return r.State.ExitCode !== 0 && (!p.MaximumRetryCount || r.RestartCount < p.MaximumRetryCount);
      default: return false;
    }
  }

  /** docker's back-off: 100 ms doubling, reset after 10 s of running. */
  private scheduleRestart(r: ContainerRecord): void {
    const ran = Date.parse(r.State.FinishedAt) - Date.parse(r.State.StartedAt);
    const delay = ran > 10000 ? 100 : Math.min(100 * 2 ** Math.min(r.RestartCount, 10), 60000);
    this.setState(r, { Status: 'restarting', Restarting: true });
    this.restartTimers.set(r.Id, setTimeout(() => {
      this.restartTimers.delete(r.Id);
      if (!this.records.has(r.Id) || !r.State.Restarting) return;
      r.RestartCount++;
      this.start(r.Id).catch(() => this.setState(r, { Status: 'exited', Restarting: false }));
    }, delay));
  }

  // ---- stop, kill, wait, remove ----

  stop(ref: string, timeout?: number, signal?: string): Promise<boolean> {
    const r = this.get(ref);
    return this.serial(r.Id, async () => {
      this.cancelRestart(r);
      if (!r.State.Running) return false;
      r.StoppedByUser = true;
      const t = timeout ?? r.Config.StopTimeout ?? 10;
      if (r.State.Paused) await this.runtime.resume(r.Id).catch(() => {});
      try { this.runtime.kill(r.Id, signal || r.Config.StopSignal || 'SIGTERM'); } catch { /* exiting */ }
      const timer = t >= 0 ? setTimeout(() => { try { this.runtime.kill(r.Id, 'SIGKILL', true); } catch { /* gone */ } }, t * 1000) : undefined;
      await this.onExit(r, await this.exitOf(r));
      clearTimeout(timer);
      this.event(r, 'stop');
      return true;
    });
  }

  private cancelRestart(r: ContainerRecord): void {
    const t = this.restartTimers.get(r.Id);
    if (t) { clearTimeout(t); this.restartTimers.delete(r.Id); }
    if (r.State.Restarting) { r.StoppedByUser = true; this.setState(r, { Status: 'exited', Restarting: false }); }
  }

  private nextExit(r: ContainerRecord): Promise<ContainerRecord> {
    return new Promise((res) => { const l = this.waiters.get(r.Id) ?? []; l.push(res); this.waiters.set(r.Id, l); });
  }

  kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    const r = this.get(ref);
    return this.serial(r.Id, () => {
      if (!r.State.Running) throw new Conflict('container', `Cannot kill container: ${ref}: container ${r.Id} is not running`);
      signalNumber(signal);
      if (signalNumber(signal) === 9 || signalNumber(signal) === 15) r.StoppedByUser = true;
      this.runtime.kill(r.Id, signal);
      this.event(r, 'kill', { signal: String(signalNumber(signal)) });
    });
  }

  /** docker's wait conditions: not-running (default), next-exit, removed. */
  wait(ref: string, condition = 'not-running'): Promise<ContainerRecord> {
    const r = this.get(ref);
    if (condition === 'not-running' && !r.State.Running && !r.State.Restarting) return Promise.resolve(r);
    if (condition === 'removed') {
      return new Promise((res) => {
        const on = (e: { Action: string; id: string }) => { if (e.id === r.Id && (e.Action === 'destroy')) { this.off('event', on); res(r); } };
        this.on('event', on);
      });
    }
    return this.nextExit(r);
  }

  remove(ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    const r = this.get(ref);
    return this.serial(r.Id, () => this.removeLocked(r, opts));
  }

  private async removeLocked(r: ContainerRecord, opts: { force?: boolean; volumes?: boolean }): Promise<void> {
    if (!this.records.has(r.Id)) return;
    this.cancelRestart(r);
    if (r.State.Running) {
      if (!opts.force) throw new Conflict('container', `cannot remove container "${r.Name}": container is running: stop the container before removing or force remove`);
      r.StoppedByUser = true;
      if (r.State.Paused) await this.runtime.resume(r.Id).catch(() => {});
      try { this.runtime.kill(r.Id, 'SIGKILL', true); } catch { /* gone */ }
      await this.onExit(r, await this.exitOf(r));
    }
    // not written: until the rename below, a crash leaves the container as it was
    r.State = { ...r.State, Status: 'removing' };
    this.records.delete(r.Id);
    await this.runtime.delete(r.Id, true).catch(() => {});
    this.unmountRoot(r);
    try { this.images().snapshots.release(`ctr-${r.Id}`); } catch { /* gone */ }
    discard(this.dir(r.Id), this.trash);
    discard(this.shimDir(r.Id), this.execTrash);
    if (opts.volumes) {
      for (const m of r.Mounts) {
        if (m.Type !== 'volume' || !m.Name) continue;
        try {
          const v = this.volumes.get(m.Name);
          if (v.Anonymous && this.volumeUsers(m.Name).length === 0) this.volumes.remove(m.Name, []);
        } catch { /* removed already */ }
      }
    }
    this.event(r, 'destroy');
  }

  volumeUsers(name: string): string[] {
    return [...this.records.values()].filter((r) => r.Mounts.some((m) => m.Name === name)).map((r) => r.Id);
  }

  pause(ref: string): Promise<void> {
    const r = this.get(ref);
    return this.serial(r.Id, async () => {
      if (!r.State.Running) throw new Conflict('container', `Container ${r.Id} is not running`);
      if (r.State.Paused) throw new Conflict('container', `Container ${r.Id} is already paused`);
      await this.runtime.pause(r.Id);
      this.setState(r, { Status: 'paused', Paused: true });
      this.event(r, 'pause');
    });
  }

  unpause(ref: string): Promise<void> {
    const r = this.get(ref);
    return this.serial(r.Id, async () => {
      if (!r.State.Paused) throw new Conflict('container', `Container ${r.Id} is not paused`);
      await this.runtime.resume(r.Id);
      this.setState(r, { Status: 'running', Paused: false });
      this.event(r, 'unpause');
    });
  }

  /** What this host cannot do of `h` is dropped, with docker's warning for it (its sysinfo checks). */
  /** What this host cannot do of `h`, discarded with docker's warnings, as docker does. */
  private unsupported(h: HostConfig): string[] {
    const warnings: string[] = [];
    if (h.BlkioWeight && !this.runtime.blockWeightSupported(this.cgroupParent)) {
      h.BlkioWeight = 0;
      warnings.push('Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.');
    }
    if (h.OomKillDisable && !this.runtime.oomKillDisableSupported()) {
      h.OomKillDisable = false;
      warnings.push('Your kernel does not support OomKillDisable. OomKillDisable discarded.');
    }
    return warnings;
  }

  /** `update`: resources and restart policy; a running container's cgroup changes at once. */
  update(ref: string, body: Record<string, unknown>): Promise<{ Warnings: string[] }> {
    const r = this.get(ref);
    const allowed = ['Memory', 'MemorySwap', 'MemoryReservation', 'NanoCpus', 'CpuShares', 'CpuQuota', 'CpuPeriod', 'CpusetCpus', 'CpusetMems', 'PidsLimit', 'BlkioWeight', 'RestartPolicy'];
    const checked = checkCreateBody({ HostConfig: body }).HostConfig as Record<string, unknown>;
    for (const k of Object.keys(checked)) {
      if (!allowed.includes(k) && checked[k] !== null && checked[k] !== 0 && checked[k] !== '' && !(Array.isArray(checked[k]) && (checked[k] as unknown[]).length === 0)) {
        throw new InvalidInput(`HostConfig.${k}`, 'cannot be updated (update takes memory, CPU, pids, blkio weight and the restart policy)');
      }
    }
    return this.serial(r.Id, async () => {
      const next: HostConfig = { ...r.HostConfig };
      for (const k of allowed) {
        const v = checked[k];
        if (v === undefined || v === null || v === 0 || v === '') continue;
        if (k === 'RestartPolicy' && !(v as { Name?: string }).Name) continue; // docker sends an empty one when --restart is not given
        (next as Record<string, unknown>)[k] = v;
      }
      checkHostConfig(next, undefined);
      const warnings = this.unsupported(next);
      if (r.State.Running) {
        const spec = ociSpec({ id: r.Id, config: r.Config, host: next, rootfs: join(this.dir(r.Id), 'rootfs'), etcFiles: { hostname: '', hosts: '', resolvConf: '' }, mounts: [], cgroupParent: this.cgroupParent });
        this.runtime.update(r.Id, (spec.linux as { resources: unknown }).resources);
      }
      r.HostConfig = next;
      await this.save(r);
      this.event(r, 'update');
      return { Warnings: warnings };
    });
  }

  rename(ref: string, name: string): void {
    const r = this.get(ref);
    if (!NAME_RE.test(name)) throw new InvalidInput('name', `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    const n = name.startsWith('/') ? name : `/${name}`;
    const other = [...this.records.values()].find((o) => o.Name === n);
    if (other && other !== r) throw new Conflict('name', `Conflict. The container name "${n}" is already in use by container "${other.Id}". You have to remove (or rename) that container to be able to reuse that name.`);
    r.Name = n;
    void this.save(r).catch(() => { /* logged by save */ });
    this.event(r, 'rename');
  }

  // ---- attach ----

  /** Joins a client to the container's stdio: now if it runs, else when it starts. */
  async attach(ref: string, socket: Socket, streams: { stdin: boolean; stdout: boolean; stderr: boolean; detachKeys?: Buffer; direct?: number }): Promise<void> {
    const r = this.get(ref);
    return new Promise((res) => {
      const a: Attacher = { socket, ...streams, ended: res };
      if (r.State.Running) void this.connect(r, a);
      else {
        const l = this.attachers.get(r.Id) ?? [];
        l.push(a);
        this.attachers.set(r.Id, l);
        socket.once('close', () => { const l2 = this.attachers.get(r.Id); if (l2) this.attachers.set(r.Id, l2.filter((x) => x !== a)); res(); });
      }
    });
  }

  private async connectAttachers(r: ContainerRecord): Promise<void> {
    const l = this.attachers.get(r.Id) ?? [];
    this.attachers.delete(r.Id);
    await Promise.all(l.map((a) => this.connect(r, a)));
  }

  private endAttachers(id: string): void {
    for (const a of this.attachers.get(id) ?? []) { a.socket.end(); a.ended(); }
    this.attachers.delete(id);
  }

  private async connect(r: ContainerRecord, a: Attacher): Promise<void> {
    let s: Socket;
    try {
      // the client's output is taken now, not when it came: a queued attacher holds nothing of its process
      s = await withClientOutput(a.socket, a.direct, a.stdin, !!r.Config.Tty,
        (handOver) => request(this.shimDir(r.Id), `attach ${a.stdin && r.Config.OpenStdin ? 1 : 0} ${a.stdout ? 1 : 0} ${a.stderr ? 1 : 0}`, handOver));
      if ((await replyLine(s)) !== 'ok') throw new Error('refused');
    } catch {
      a.socket.end();
      a.ended();
      return;
    }
    s.resume();
    pipeAttach(a.socket, s, a.stdin && !!r.Config.OpenStdin, a.ended, true, a.detachKeys);
  }

  async resizeTty(ref: string, rows: number, cols: number): Promise<void> {
    const r = this.get(ref);
    if (!r.State.Running) throw new Conflict('container', `Container ${r.Id} is not running`);
    if (!r.Config.Tty) return;
    await resize(this.shimDir(r.Id), rows, cols);
  }

  // ---- exec ----

  /** Execs in running containers (exec.ts). */
  private readonly execs = new Execs({
    get: (ref) => this.get(ref), etcDir: (r) => this.etcDir(r), event: (r, action, extra) => this.event(r, action, extra),
    rootfs: (r) => join(this.dir(r.Id), 'rootfs'), runtime: () => this.runtime, execRoot: () => this.execRoot, execTrash: () => this.execTrash, cgroupParent: () => this.cgroupParent,
  });

  execCreate(ref: string, body: Record<string, unknown>): { Id: string } { return this.execs.create(ref, body); }
  execInspect(id: string) { return this.execs.inspect(id); }
  /** Starts an exec; with a socket its stdio is attached until it ends. */
  execStart(id: string, socket: Socket | undefined, opts: { detach?: boolean; tty?: boolean; direct?: number } = {}): Promise<void> { return this.execs.start(id, socket, opts); }
  execResize(id: string, rows: number, cols: number): Promise<void> { return this.execs.resize(id, rows, cols); }

  // ---- health checks ----

  /** HEALTHCHECKs of running containers (health.ts), run as execs. */
  private readonly health = new HealthChecks({
    setState: (r, st) => this.setState(r, st), event: (r, action) => this.event(r, action), execs: () => this.execs, shutting: () => this.shutting,
  });

  private startHealth(r: ContainerRecord): void { this.health.start(r); }
  private stopHealth(r: ContainerRecord): void { this.health.stop(r); }

  // ---- the filesystem: export, cp, diff, commit ----

  /** Runs `fn` with the container's root mounted (a stopped container's only for the call). */
  private async withRoot<T>(r: ContainerRecord, fn: (rootfs: string) => Promise<T> | T): Promise<T> {
    const rootfs = join(this.dir(r.Id), 'rootfs');
    const mountedHere = !isMounted(rootfs);
    if (mountedHere) { mkdirSync(rootfs, { recursive: true }); mountAll(r.RootMounts, rootfs); }
    try { return await fn(rootfs); } finally { if (mountedHere && !r.State.Running) this.unmountRoot(r); }
  }

  /** The container's files, resolved inside its root by fd (cp, the archive API, export). */
  private readonly files = new ContainerFiles({ withRoot: (r, fn) => this.withRoot(r, fn), etcDir: (r) => this.etcDir(r) });

  /** `export`: the whole root filesystem as a tar (volumes are not part of it, as with docker). */
  export(ref: string, out: Writable): Promise<void> { return this.files.export(this.get(ref), out); }

  /** docker's path stat (X-Docker-Container-Path-Stat): name, size, Go file mode, mtime, link target. */
  statPath(ref: string, path: string): Promise<PathStat> { return this.files.statPath(this.get(ref), path); }

  /** `cp CONTAINER:PATH -`: a tar of the path. */
  getArchive(ref: string, path: string, begin: (stat: PathStat) => Writable): Promise<void> { return this.files.getArchive(this.get(ref), path, begin); }

  /** `cp - CONTAINER:DIR`: unpacks a tar into a directory of the container, confined to its root. */
  putArchive(ref: string, path: string, src: Readable): Promise<void> { return this.files.putArchive(this.get(ref), path, src); }

  /** `diff`: what the container changed (0 modified, 1 added, 2 deleted). */
  changes(ref: string): Promise<{ Path: string; Kind: number }[]> {
    const r = this.get(ref);
    const snaps = this.images().snapshots;
    if (snaps.driver !== 'overlay') return Promise.reject(new InvalidInput('diff', 'needs the overlay driver (the copy driver keeps no upper layer)'));
    const chain = this.images().resolve(r.Image).chainID;
    const upper = snaps.upperDir(`ctr-${r.Id}`), lowers = chain ? snaps.lowerDirs(chain) : [];
    return mountPointEntries(upper, mountPoints(r), lowers).then((made) => containerChanges(upper, lowers, made));
  }

  /** `commit`: the container's changes as a new image on top of its own. */
  async commit(ref: string, o: { repo?: string; tag?: string; comment?: string; author?: string; changes?: string[]; pause?: boolean; config?: Partial<ContainerConfig> }): Promise<string> {
    const r = this.get(ref);
    const store = this.images();
    const parent = store.resolve(r.Image);
    const pause = o.pause !== false && r.State.Running && !r.State.Paused;
    if (pause) await this.runtime.pause(r.Id);
    try {
      const c = { ...r.Config, ...(o.config ?? {}) };
      const img = await commitImage(store, parent, (out) => this.withRoot(r, () => store.diffRoot(`ctr-${r.Id}`, out, mountPoints(r))), {
        name: o.repo ? `${o.repo}${o.tag ? `:${o.tag}` : ''}` : undefined, changes: o.changes, comment: o.comment, author: o.author,
        createdBy: [r.Path, ...r.Args].join(' '),
        config: {
          Env: c.Env ?? [], Cmd: c.Cmd ?? undefined, Entrypoint: c.Entrypoint ?? undefined, WorkingDir: c.WorkingDir || undefined, User: c.User || undefined,
          Labels: c.Labels, ExposedPorts: c.ExposedPorts ?? undefined, Volumes: c.Volumes ?? undefined, StopSignal: c.StopSignal,
        } as never,
      });
      this.event(r, 'commit');
      return img.id;
    } finally {
      if (pause) await this.runtime.resume(r.Id);
    }
  }

  // ---- daemon start and stop ----

  /** Loads every record; re-adopts running containers from their shims; finishes what a crash interrupted. */
  async restore(): Promise<void> {
    const root = join(this.dataRoot, 'containers');
    for (const id of readdirSync(root)) {
      const f = join(root, id, 'config.v2.json');
      if (!existsSync(f)) { rmSync(join(root, id), { recursive: true, force: true }); continue; } // a create a crash cut short
      let r: ContainerRecord;
      try { r = JSON.parse(readFileSync(f, 'utf8')) as ContainerRecord; } catch { continue; }
      if (r.State.Status === 'removing') { this.records.set(r.Id, r); await this.removeLocked(r, { force: true }); continue; }
      this.records.set(r.Id, r);
    }
    const restarts: ContainerRecord[] = [];
    for (const r of this.records.values()) {
      if (r.State.Running) {
        if (await this.shimAnswers(r)) { this.monitor(r); continue; }
        await this.onExit(r, readExit(this.exitFile(r.Id)) ?? { code: 255, at: new Date() });
      } else if (await this.shimAnswers(r)) {
        await this.finishStart(r);
      } else if (r.State.Restarting) {
        restarts.push(r);
      } else if (r.HostConfig.RestartPolicy?.Name === 'always' && !r.StoppedByUser && r.State.Status === 'exited') {
        restarts.push(r);
      }
    }
    for (const r of restarts) this.start(r.Id).catch(() => {});
  }

  /** Whether the container's shim still holds a process (it answers on its socket and wrote no exit). */
  private async shimAnswers(r: ContainerRecord): Promise<boolean> {
    if (!existsSync(join(this.shimDir(r.Id), 'shim.sock')) || readExit(this.exitFile(r.Id))) return false;
    try { (await request(this.shimDir(r.Id), 'ping')).destroy(); return true; } catch { return false; }
  }

  /** The daemon stops: containers keep running (live restore); timers stop. */
  shutdown(): void {
    this.shutting = true;
    for (const t of this.restartTimers.values()) clearTimeout(t);
    this.health.stopAll();
  }
}

/** The modes that can name another container's namespace ("container:NAME"). */
const JOINABLE = ['NetworkMode', 'IpcMode', 'PidMode'] as const;

export interface EngineEvent {
  Type: string; Action: string; status: string; id: string; from: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: string; time: number; timeNano: number;
}

export class StartError extends Error {}


/**
 * The mount points the runtime makes in a container's root for berth's own
 * mounts and binds: they are not the container's changes (docker keeps them
 * in its hidden init layer).
 */
function mountPoints(r: ContainerRecord): string[] {
  return ['/proc', '/sys', '/dev', '/etc/hostname', '/etc/hosts', '/etc/resolv.conf', ...(r.HostConfig.Init ? [INIT_TARGET] : []),
    ...r.Mounts.map((m) => m.Destination), ...Object.keys(r.HostConfig.Tmpfs ?? {})];
}




/**
 * /etc/resolv.conf for a container: the host's, with --dns, --dns-search and
 * --dns-option replacing its nameserver, search and options lines, as docker does.
 */
function resolvConf(hostText: string, h: HostConfig): string {
  const lines = hostText.split('\n');
  const keep = (word: string) => lines.filter((l) => l.trim().split(/\s+/)[0] === word);
  const out = [
    ...(h.Dns?.length ? h.Dns.map((ip) => `nameserver ${ip}`) : keep('nameserver')),
    ...(h.DnsSearch?.length ? [`search ${h.DnsSearch.join(' ')}`] : keep('search')),
    ...(h.DnsOptions?.length ? [`options ${h.DnsOptions.join(' ')}`] : keep('options')),
  ];
  return out.length ? `${out.join('\n')}\n` : '';
}

/** The shim's log options from the driver (json-file or local) and its --log-opt values. */
function isMounted(path: string): boolean {
  const root = fsx().isMountPoint(path);
  if (root !== null) return root;
  try {
    const p = resolvePath(path);
    return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === p);
  } catch { return false; }
}

/** berth's --init (native/init), bind-mounted at /sbin/berth-init. */
const initPath = () => nativeBuild('berth-init');
