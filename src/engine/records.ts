// The record store: every container's record in memory and on disk
// (<data>/containers/<id>/config.v2.json, written atomically and in order),
// its names, its per-container lock, and the events that record changes.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeFileAtomicAsync } from '../util/atomic.js';
import { Conflict, DockerWords, InvalidInput, NotFound } from '../util/check.js';
import type { Mount } from '../image/index.js';
import type { ContainerConfig, ContainerState, HostConfig, MountPoint } from './types.js';

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
  /** the networks it joins when it starts, by name, with what it asked of each (create's NetworkingConfig) */
  Networks?: Record<string, EndpointSettings>;
}

/** docker's EndpointSettings as a create body or a connect gives them. */
export interface EndpointSettings { Aliases?: string[] | null; IPAMConfig?: { IPv4Address?: string; IPv6Address?: string } | null; MacAddress?: string }

export interface EngineEvent {
  Type: string; Action: string; status: string; id: string; from: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: string; time: number; timeNano: number;
}

const ADJ = ['brave', 'calm', 'eager', 'fancy', 'gentle', 'happy', 'jolly', 'keen', 'lucid', 'merry', 'nimble', 'proud', 'quiet', 'rapid', 'sharp', 'tidy', 'vivid', 'witty', 'zen', 'bold'];
const NOUN = ['anchor', 'barge', 'buoy', 'cargo', 'dock', 'ferry', 'harbor', 'hull', 'jetty', 'keel', 'mast', 'pier', 'quay', 'rudder', 'sail', 'skiff', 'stern', 'tug', 'wharf', 'yacht'];
const NAME_RE = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** A client's container name, refused as docker refuses it. */
export function checkName(name: string): void {
  if (!NAME_RE.test(name)) throw new InvalidInput('name', `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
}

const inUse = (n: string, by: string) => `Conflict. The container name "${n}" is already in use by ${by}. You have to remove (or rename) that container to be able to reuse that name.`;

export class ContainerStore {
  private readonly records = new Map<string, ContainerRecord>();
  private readonly locks = new Map<string, Promise<unknown>>();
  /** Writes still under way, per container: a record's writes go to disk in the order they were made. */
  private readonly saving = new Map<string, Promise<void>>();
  /** Names held by creates under way. */
  private readonly reservedNames = new Set<string>();
  /** The latest events, oldest first, for `events --since` (docker keeps 256 too). */
  readonly recentEvents: EngineEvent[] = [];

  constructor(readonly dataRoot: string, readonly execRoot: string, private readonly emit: (ev: EngineEvent) => void) {}

  dir(id: string): string { return join(this.dataRoot, 'containers', id); }
  rootfs(id: string): string { return join(this.dir(id), 'rootfs'); }
  shimDir(id: string): string { return join(this.execRoot, 's', id.slice(0, 24)); }
  exitFile(id: string): string { return join(this.dir(id), 'exit'); }

  has(id: string): boolean { return this.records.has(id); }
  /** The record under `id` is `r` still (not removed, not replaced). */
  holds(r: ContainerRecord): boolean { return this.records.get(r.Id) === r; }
  add(r: ContainerRecord): void { this.records.set(r.Id, r); }
  delete(id: string): void { this.records.delete(id); }
  all(): IterableIterator<ContainerRecord> { return this.records.values(); }

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

  /**
   * Writes the record as it is now, atomically and durably, after any
   * write of it still under way. The disk's waits are not the event
   * loop's: reads (ps, inspect) are served meanwhile. A failed write is
   * logged; the caller that awaits it also sees it.
   */
  save(r: ContainerRecord): Promise<void> {
    const f = join(this.dir(r.Id), 'config.v2.json');
    const data = JSON.stringify(r);
    const next = (this.saving.get(r.Id) ?? Promise.resolve()).then(() => writeFileAtomicAsync(f, data, { replacing: () => existsSync(f) }));
    const tail = next.catch((e: Error) => { if (this.records.has(r.Id)) process.stderr.write(`berthd: saving container ${r.Id}: ${e.message}\n`); });
    this.saving.set(r.Id, tail);
    void tail.then(() => { if (this.saving.get(r.Id) === tail) this.saving.delete(r.Id); });
    return next;
  }

  /**
   * Drops the legacy link `alias` of container `parentRef` (DELETE
   * /containers/PARENT/ALIAS?link=1). As in dockerd, a link that is not
   * there is no container of the name "PARENT/ALIAS".
   */
  unlink(parentRef: string, alias: string): Promise<void> {
    const missing = () => new NotFound('container', `No such container: ${parentRef}/${alias}`);
    let p: ContainerRecord;
    try { p = this.get(parentRef); } catch { throw missing(); }
    return this.serial(p.Id, async () => {
      const links = p.HostConfig.Links ?? [];
      const keep = links.filter((l) => { const [name, as] = l.split(':') as [string, string?]; return (as ?? name).replace(/^\//, '') !== alias; });
      if (keep.length === links.length) throw missing();
      p.HostConfig.Links = keep;
      await this.save(p);
    });
  }

  /** Changes the state and writes the record in the background (a failure is logged by save). */
  setState(r: ContainerRecord, s: Partial<ContainerState>): void {
    r.State = { ...r.State, ...s };
    void this.save(r).catch(() => {});
  }

  /** One operation at a time per container: concurrent API calls see consistent state. */
  serial<T>(id: string, fn: () => Promise<T> | T): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    this.locks.set(id, tail);
    void tail.then(() => { if (this.locks.get(id) === tail) this.locks.delete(id); });
    return next;
  }

  /** The name asked for (refused when a container or a create under way has it), or a new one; held until releaseName. */
  reserveName(name: string | null | undefined): string {
    if (name) checkName(name);
    const taken = (n: string) => this.reservedNames.has(n) || [...this.records.values()].some((r) => r.Name === n);
    let cname = name ? (name.startsWith('/') ? name : `/${name}`) : '';
    if (cname) {
      const other = [...this.records.values()].find((r) => r.Name === cname);
      if (other) throw new Conflict('name', inUse(cname, `container "${other.Id}"`));
      if (this.reservedNames.has(cname)) throw new Conflict('name', inUse(cname, 'a container being created'));
    } else {
      do cname = `/${ADJ[randomBytes(1)[0]! % ADJ.length]}_${NOUN[randomBytes(1)[0]! % NOUN.length]}${randomBytes(1)[0]! % 100}`;
      while (taken(cname));
    }
    this.reservedNames.add(cname);
    return cname;
  }

  releaseName(name: string): void { this.reservedNames.delete(name); }

  rename(r: ContainerRecord, name: string): void {
    checkName(name);
    const n = name.startsWith('/') ? name : `/${name}`;
    if (n === r.Name) throw new DockerWords('name', 'Renaming a container with the same name as its current name'); // dockerd's words (400)
    const other = [...this.records.values()].find((o) => o.Name === n);
    if (other && other !== r) throw new Conflict('name', inUse(n, `container "${other.Id}"`));
    r.Name = n;
    void this.save(r).catch(() => {});
    this.event(r, 'rename');
  }

  /** An event of any type (container, image, volume) for /events and its history. */
  publish(type: string, action: string, id: string, attributes: Record<string, string>, from = ''): void {
    const t = Date.now();
    const ev: EngineEvent = {
      Type: type, Action: action, status: action, id, from, Actor: { ID: id, Attributes: attributes },
      scope: 'local', time: Math.floor(t / 1000), timeNano: t * 1e6,
    };
    this.recentEvents.push(ev);
    if (this.recentEvents.length > 256) this.recentEvents.shift();
    this.emit(ev);
  }

  event(r: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
    this.publish('container', action, r.Id, { image: r.ImageName, name: r.Name.slice(1), ...(r.Config.Labels ?? {}), ...extra }, r.ImageName);
  }

  /** docker's volume events as a container's volumes are put in place (mount) and left (unmount). */
  volumeEvents(r: ContainerRecord, action: 'mount' | 'unmount'): void {
    for (const m of r.Mounts) {
      if (m.Type !== 'volume' || !m.Name) continue;
      const driver = m.Driver || 'local';
      this.publish('volume', action, m.Name, action === 'mount'
        ? { container: r.Id, destination: m.Destination, driver, propagation: m.Propagation, 'read/write': String(m.RW) }
        : { container: r.Id, driver });
    }
  }

  /** The containers that mount volume `name`. */
  volumeUsers(name: string): string[] {
    return [...this.records.values()].filter((r) => r.Mounts.some((m) => m.Name === name)).map((r) => r.Id);
  }
}
