// A container's files for cp, the archive API, export and diff. Every path
// the client names is resolved inside the container's root by fd (see
// image/confined): a process in the container that renames directories and
// swaps in symlinks while berth works can neither make berth read a host
// file nor write outside the container.
import { constants as C, existsSync, lstatSync, openSync, readFileSync, type Stats } from 'node:fs';
import { posix } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { Conflict, InvalidInput, NotFound } from '../util/check.js';
import { fsx, MS_BIND, MS_RDONLY, MS_REC, MS_REMOUNT } from '../util/fsx.js';
import { RootDir, closeFd, commitImage, deriveImage, mountPointEntries, packFd, packPath, unpackInto, walk, withRootDir, type ImageStore } from '../image/index.js';
import { mountPoints, subpathOf, unmountRoot, withRoot } from './container-root.js';
import type { ContainerConfig } from './types.js';
import type { ContainerRecord } from './records.js';

/** What the engine lends this module. */
export interface FilesHost {
  /** where the container's root is mounted */
  rootfs(r: ContainerRecord): string;
  /** the directory of its hostname, hosts and resolv.conf */
  etcDir(r: ContainerRecord): string;
  images(): ImageStore;
  event(r: ContainerRecord, action: string): void;
  pause(r: ContainerRecord): Promise<void>;
  resume(r: ContainerRecord): Promise<void>;
}

export interface CommitOptions {
  repo?: string; tag?: string; comment?: string; author?: string; changes?: string[]; pause?: boolean; config?: Partial<ContainerConfig>;
  /** a build's: the image config verbatim (not the container's), its history line, and the parent recorded */
  build?: { config: Record<string, unknown>; createdBy: string; epoch?: number };
}

/** docker's path stat (X-Docker-Container-Path-Stat). */
export interface PathStat { name: string; size: number; mode: number; mtime: string; linkTarget: string }

const GO_DIR = 0x80000000, GO_SYMLINK = 0x8000000;

function absolute(path: string): string {
  if (!path.startsWith('/')) throw new InvalidInput('path', `"${path}" must be absolute`);
  if (path.includes('\0')) throw new InvalidInput('path', 'contains a NUL byte');
  return path;
}

/** The last component is followed when the path ends in "/" or "/." (docker's rule). */
const followsLast = (path: string) => path.endsWith('/') || path.endsWith('/.');

/** The name docker gives the archived entry: "." for "DIR/.", else the path's last component. */
function entryName(path: string): string {
  if (path.endsWith('/.')) return '.';
  return posix.basename(path.replace(/\/+$/, '')) || '.';
}

/** docker's path stat of what is open as `fd`. */
function pathStat(fd: number, st: Stats, path: string): PathStat {
  const mode = (st.mode & 0o7777) + (st.isDirectory() ? GO_DIR : 0) + (st.isSymbolicLink() ? GO_SYMLINK : 0);
  const name = path === '/' ? '/' : entryName(path);
  return { name, size: st.size, mode, mtime: st.mtime.toISOString(), linkTarget: st.isSymbolicLink() ? fsx().readlinkat(fd, '') : '' };
}

function notFound(r: ContainerRecord, path: string): NotFound {
  return new NotFound('path', `Could not find the file ${path} in container ${r.Name.slice(1)}`);
}

export class ContainerFiles {
  constructor(private readonly host: FilesHost) {}

  /**
   * Runs `fn` with the container's files as its processes see them: a
   * running container's root through /proc/PID/root; a stopped one's root
   * filesystem with its volumes, binds and /etc files bound in for the call.
   */
  view<T>(r: ContainerRecord, fn: (root: RootDir) => Promise<T> | T): Promise<T> {
    if (r.State.Running && r.State.Pid > 0) return withProcessRoot(r, fn);
    return this.withRoot(r, (rootfs) => withRootDir(rootfs, async (root) => {
      const dir = this.host.etcDir(r);
      const binds = [
        ...['hostname', 'hosts', 'resolv.conf'].map((f) => ({ source: `${dir}/${f}`, destination: `/etc/${f}`, ro: false })),
        // a volume's Subpath is not bound here: its source is resolved by fd at start only (see stageSubpaths)
        ...r.Mounts.filter((m) => m.Type !== 'tmpfs' && !subpathOf(r, m)).map((m) => ({ source: m.Source, destination: m.Destination, ro: !m.RW })),
      ];
      const bound: number[] = [];
      try {
        for (const b of binds) {
          const top = bindInto(root, b.source, b.destination, b.ro);
          if (top !== undefined) bound.push(top);
        }
        return await fn(root);
      } finally {
        for (const top of bound.reverse()) {
          try { fsx().umount(`/proc/self/fd/${top}`, true); } catch { /* gone with the root */ }
          closeFd(top);
        }
      }
    }));
  }

  /** Runs `fn` with the container's root mounted (a stopped container's only for the call). */
  private withRoot<T>(r: ContainerRecord, fn: (rootfs: string) => Promise<T> | T): Promise<T> { return withRoot(r, this.host.rootfs(r), fn); }

  /** A stopped container's own root filesystem (no volumes, binds or /etc files), held by fd for the call: a build step's. */
  rootFiles<T>(r: ContainerRecord, fn: (root: RootDir) => Promise<T> | T): Promise<T> {
    return this.withRoot(r, (rootfs) => withRootDir(rootfs, fn));
  }

  statPath(r: ContainerRecord, path: string): Promise<PathStat> {
    absolute(path);
    return this.view(r, (root) => this.found(r, root, path, (fd, st) => pathStat(fd, st, path)));
  }

  /**
   * `cp CONTAINER:PATH -`: a tar of the path. The path is resolved once:
   * `begin` gets its stat (the header docker sends) and gives the stream
   * the tar goes to, and the tar is made from the same open file. The
   * stream is left open: its end tells the client that the copy is over,
   * so the caller ends it after this resolves, when what the view mounted
   * is unmounted.
   */
  getArchive(r: ContainerRecord, path: string, begin: (stat: PathStat) => Writable): Promise<void> {
    absolute(path);
    return this.view(r, (root) => this.found(r, root, path, (fd, st) => packFd(fd, st, begin(pathStat(fd, st, path)), entryName(path), false)));
  }

  /** Runs `fn` with `path` open in the container (its last component followed as docker follows it, or when `follow`), or throws docker's 404. */
  private async found<T>(r: ContainerRecord, root: RootDir, path: string, fn: (fd: number, st: Stats) => T | Promise<T>, follow = followsLast(path)): Promise<T> {
    const found = root.stat(path, follow);
    if (!found) throw notFound(r, path);
    try { return await fn(found.fd, found.st); } finally { closeFd(found.fd); }
  }

  /** `cp - CONTAINER:DIR`: unpacks a tar into a directory of the container, confined to its root. */
  putArchive(r: ContainerRecord, path: string, src: Readable): Promise<void> {
    absolute(path);
    if (r.HostConfig.ReadonlyRootfs) return Promise.reject(new Conflict('path', 'container rootfs is marked read-only'));
    // resolved once, following a last symlink: the copy goes into what this found, whatever is renamed meanwhile
    return this.view(r, (root) => this.found(r, root, path, async (fd, st) => {
      if (!st.isDirectory()) throw new InvalidInput('path', `extraction point is not a directory: ${path}`);
      await unpackInto(RootDir.fromFd(fd), src); // the fd stays found()'s to close
    }, true));
  }

  /** `export`: the whole root filesystem as a tar (volumes are not part of it, as with docker); `out` is left for the caller to end, as with getArchive. */
  export(r: ContainerRecord, out: Writable): Promise<void> {
    return this.withRoot(r, (rootfs) => withRootDir(rootfs, (root) => packPath(root, '/.', out, '.', false)));
  }

  /** `diff`: what the container changed (0 modified, 1 added, 2 deleted). */
  changes(r: ContainerRecord): Promise<{ Path: string; Kind: number }[]> {
    const images = this.host.images(), snaps = images.snapshots;
    if (snaps.driver !== 'overlay') return Promise.reject(new InvalidInput('diff', 'needs the overlay driver (the copy driver keeps no upper layer)'));
    const chain = images.resolve(r.Image).chainID;
    const upper = snaps.upperDir(`ctr-${r.Id}`), lowers = chain ? snaps.lowerDirs(chain) : [];
    return mountPointEntries(upper, mountPoints(r), lowers).then((made) => containerChanges(upper, lowers, made));
  }

  /** A stopped build step's upper dir as its layer (ImageStore.adoptRoot); the container is only for removing after. */
  private adopt(r: ContainerRecord): ReturnType<ImageStore['adoptRoot']> {
    unmountRoot(this.host.rootfs(r));
    return this.host.images().adoptRoot(`ctr-${r.Id}`, mountPoints(r));
  }

  /** `commit`: the container's changes as a new image on top of its own (a running one paused meanwhile, unless told not to). */
  async commit(r: ContainerRecord, o: CommitOptions): Promise<string> {
    const store = this.host.images();
    const parent = store.resolve(r.Image);
    // as dockerd: a pause that fails (the process ended a moment ago) does not fail the commit
    const pause = o.pause !== false && r.State.Running && !r.State.Paused && await this.host.pause(r).then(() => true, () => false);
    try {
      const c = { ...r.Config, ...(o.config ?? {}) };
      const epoch = o.build?.epoch;
      const writeDiff = (out: Writable) => this.withRoot(r, () => store.diffRoot(`ctr-${r.Id}`, out, mountPoints(r), epoch));
      if (o.build) {
        const created = epoch === undefined ? undefined : new Date(epoch * 1000).toISOString();
        // a step's container is taken whole as the layer; SOURCE_DATE_EPOCH's clamped times are the tar's, so that one is unpacked
        const layer = epoch === undefined && !r.State.Running ? await this.adopt(r) : undefined;
        return (await deriveImage(store, parent, { ...(layer ? { layer } : { writeDiff }), config: o.build.config as never, createdBy: o.build.createdBy, recordParent: true, created })).id;
      }
      const img = await commitImage(store, parent, writeDiff, {
        name: o.repo ? `${o.repo}${o.tag ? `:${o.tag}` : ''}` : undefined, changes: o.changes, comment: o.comment, author: o.author,
        createdBy: [r.Path, ...r.Args].join(' '),
        config: {
          Env: c.Env ?? [], Cmd: c.Cmd ?? undefined, Entrypoint: c.Entrypoint ?? undefined, WorkingDir: c.WorkingDir || undefined, User: c.User || undefined,
          Labels: c.Labels, ExposedPorts: c.ExposedPorts ?? undefined, Volumes: c.Volumes ?? undefined, StopSignal: c.StopSignal,
        } as never,
      });
      this.host.event(r, 'commit');
      return img.id;
    } finally {
      if (pause) await this.host.resume(r).catch(() => {});
    }
  }
}

/**
 * Runs `fn` with a running container's root, reached through its init's
 * /proc entry. The entry is held open while its root is taken and its
 * cgroup read, both through it: a pid reused by a host process after the
 * container ended is seen (its cgroup is not the container's), and its
 * root, the host's, is never used.
 */
async function withProcessRoot<T>(r: ContainerRecord, fn: (root: RootDir) => Promise<T> | T): Promise<T> {
  let proc: number;
  try { proc = openSync(`/proc/${r.State.Pid}`, C.O_RDONLY | C.O_DIRECTORY); } catch { throw new Conflict('container', `Container ${r.Id} is not running`); }
  try {
    let rootFd: number, cgroup: string;
    try {
      rootFd = fsx().openat2(proc, 'root', fsx().O_PATH | C.O_DIRECTORY, 0, 0);
      const cg = fsx().openat2(proc, 'cgroup', C.O_RDONLY, 0, 0);
      try { cgroup = readFileSync(cg, 'utf8'); } finally { closeFd(cg); }
    } catch { throw new Conflict('container', `Container ${r.Id} is not running`); }
    const root = RootDir.fromFd(rootFd);
    try {
      if (!cgroup.includes(r.Id)) throw new Conflict('container', `Container ${r.Id} is not running`);
      return await fn(root);
    } finally {
      root.close();
    }
  } finally {
    closeFd(proc);
  }
}

/**
 * Binds `source` onto `destination` inside `root` (a stopped container's
 * root) when both are there and of one kind; the bind's own root, open,
 * for the unmount. A directory's mount point is made when missing (a
 * container never started has none yet: the runtime makes them at start),
 * as dockerd mounts a created container's volumes for the archive API.
 */
function bindInto(root: RootDir, source: string, destination: string, ro: boolean): number | undefined {
  let src: Stats;
  try { src = lstatSync(source); } catch { return undefined; }
  let found = root.stat(destination, true);
  if (!found && src.isDirectory()) {
    try { closeFd(root.mkdirAll(destination)); } catch { return undefined; }
    found = root.stat(destination, true);
  }
  if (!found) return undefined;
  try {
    if (src.isDirectory() !== found.st.isDirectory() || !existsSync(source)) return undefined;
    fsx().mount(source, `/proc/self/fd/${found.fd}`, '', MS_BIND | MS_REC, '');
  } finally {
    closeFd(found.fd);
  }
  const top = root.stat(destination, true); // now the bind's root
  if (!top) return undefined;
  if (ro) {
    try { fsx().mount('', `/proc/self/fd/${top.fd}`, '', MS_BIND | MS_REMOUNT | MS_RDONLY, ''); } catch (e) { fsx().umount(`/proc/self/fd/${top.fd}`, true); closeFd(top.fd); throw e; }
  }
  return top.fd;
}

/**
 * A container's changes from its upper layer (`docker diff`): whiteouts are
 * deletions; what the image's layers have is modified, the rest added. The
 * upper layer is walked by fd: the container may change it meanwhile.
 */
export function containerChanges(upper: string, lowers: string[], omit: Set<string>): Promise<{ Path: string; Kind: number }[]> {
  const below = (rel: string) => lowers.some((l) => { try { lstatSync(`${l}/${rel}`); return true; } catch { return false; } });
  return withRootDir(upper, (root) => {
    const out: { Path: string; Kind: number }[] = [];
    for (const e of walk(root.fd)) {
      if (omit.has(e.rel)) continue;
      const whiteout = e.st.isCharacterDevice() && e.st.rdev === 0;
      out.push({ Path: `/${e.rel}`, Kind: whiteout ? 2 : below(e.rel) ? 0 : 1 });
    }
    return out.sort((x, y) => x.Path.localeCompare(y.Path));
  });
}
