// Layer snapshots: each layer is unpacked once into its own directory and
// shared by every image and container that stacks it. A container's root is
// an overlay of its layers plus its own upper directory; where overlayfs
// cannot mount, a copy of the merged layers (the copy driver) stands in.
// Like containerd's snapshotters, prepare() returns the mounts as data.
//
// Layout under <root>:
//   layers/<n>/          one unpacked layer (overlay format), n is small to keep
//                        overlay's lowerdir option short
//   layers.json          chainID → { id, diffID, parent, size }
//   active/<key>/{upper,work} or active/<key>/copy   a container's writable layer
//   tmp/                 unpacks in progress (removed on start)
import { closeSync, constants as fsConstants, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, mkdtempSync, type Stats } from 'node:fs';
import { walk } from './confined/tree.js';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileAtomic } from '../util/atomic.js';
import { withFileLock } from '../util/lock.js';
import { discard, fsx, removeEntries, MS_BIND, MS_RDONLY, MS_REC, MS_REMOUNT } from '../util/fsx.js';
import { InvalidInput } from '../util/check.js';
import { copyMerged } from './layer/merge.js';

export interface Mount { type: string; source: string; target?: string; options: string[] }
export interface LayerInfo { id: string; diffID: string; parent: string | null; size: number }
export type Driver = 'overlay' | 'copy';

/** chainID(L0) = diffID(L0); chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)). */
export function chainIDs(diffIDs: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIDs) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : `sha256:${createHash('sha256').update(`${prev} ${d}`).digest('hex')}`);
  }
  return out;
}

/**
 * The sum of `measure` over a tree's inodes, each counted once (a hardlink's
 * other names are not). By fds (walk), never by path strings: the tree may
 * be a running container's, whose processes can swap a directory for a
 * symlink while it is walked.
 */
function sumInodes(dir: string, seen: Set<string>, measure: (st: Stats) => number): number {
  if (!existsSync(dir)) return 0;
  let total = 0;
  const count = (st: Stats): boolean => {
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return false;
    seen.add(key);
    total += measure(st);
    return true;
  };
  const fd = openSync(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  try {
    if (!count(fstatSync(fd))) return 0;
    // walk asks whether to enter a directory right after the loop has counted it
    let fresh = false;
    for (const e of walk(fd, '', () => fresh)) fresh = count(e.st);
  } finally { closeSync(fd); }
  return total;
}

/** Disk use of a tree in bytes, counting each inode once (as du does). */
export const diskUsage = (dir: string, seen = new Set<string>()): number => sumInodes(dir, seen, (st) => st.blocks * 512);

/**
 * The bytes of the files under `dir`, each inode once, directories not
 * counted: what docker reports as a container's size (SizeRw) and a layer's,
 * so the empty mount points a runtime makes count nothing, as in docker's
 * init layer.
 */
export const fileBytes = (dir: string): number => sumInodes(dir, new Set(), (st) => (st.isDirectory() ? 0 : st.size));

let overlayWorks: boolean | undefined;
/** Whether overlayfs mounts here (with the trusted.* xattrs whiteouts need). */
export function probeOverlay(scratch: string): boolean {
  if (overlayWorks !== undefined) return overlayWorks;
  const d = mkdtempSync(join(scratch, 'probe-'));
  try {
    for (const s of ['l', 'u', 'w', 'm']) mkdirSync(join(d, s));
    const r = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${d}/l,upperdir=${d}/u,workdir=${d}/w`, `${d}/m`], { stdio: 'ignore' });
    overlayWorks = r.status === 0;
    if (overlayWorks) spawnSync('umount', [`${d}/m`], { stdio: 'ignore' });
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
  return overlayWorks;
}

export class Snapshots {
  private chosen: Driver | undefined;
  private layers: Record<string, LayerInfo>;

  constructor(readonly root: string, driver?: Driver) {
    for (const d of ['layers', 'active', 'tmp', 'trash']) mkdirSync(join(root, d), { recursive: true });
    // unpacks that a crash interrupted never became visible, and released snapshots: drop them
    removeEntries(join(root, 'tmp'));
    removeEntries(join(root, 'trash'));
    this.layers = this.load();
    // a layer dir renamed into place whose record a crash prevented
    const known = new Set(Object.values(this.layers).map((l) => l.id));
    removeEntries(join(root, 'layers'), (e) => !known.has(e));
    this.chosen = driver;
  }

  /** overlay where it mounts, else copy; probed when first asked (a pull unpacks the same for both) */
  get driver(): Driver {
    this.chosen ??= probeOverlay(join(this.root, 'tmp')) ? 'overlay' : 'copy';
    return this.chosen;
  }

  private load(): Record<string, LayerInfo> {
    const f = join(this.root, 'layers.json');
    return existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) as Record<string, LayerInfo> : {};
  }

  private save(): void {
    writeFileAtomic(join(this.root, 'layers.json'), JSON.stringify(this.layers));
  }

  /** Another process (the CLI beside the daemon) may have added layers: look again before saying no. */
  private known(chainID: string): LayerInfo | undefined {
    return this.layers[chainID] ?? (this.layers = this.load())[chainID];
  }

  has(chainID: string): boolean {
    return this.known(chainID) !== undefined;
  }

  info(chainID: string): LayerInfo | undefined {
    return this.known(chainID);
  }

  all(): Record<string, LayerInfo> {
    return { ...this.layers };
  }

  layerDir(chainID: string): string {
    const l = this.known(chainID);
    if (!l) throw new InvalidInput(chainID, 'no such layer snapshot');
    return join(this.root, 'layers', l.id);
  }

  /** A private directory to unpack into; commit() makes it a layer, or remove it. */
  scratch(): string {
    return mkdtempSync(join(this.root, 'tmp', 'unpack-'));
  }

  /**
   * Makes an unpacked directory (or a stopped container's upper dir, see
   * ImageStore.adoptRoot) the snapshot of `chainID` (rename, then record: a
   * crash between leaves an unrecorded dir, removed at start). `size`: what
   * docker reports as the layer's size (the bytes of its files and symlinks).
   */
  commit(dir: string, chainID: string, diffID: string, parent: string | null, size: number): void {
    withFileLock(join(this.root, 'lock'), () => {
      this.layers = this.load();
      if (this.has(chainID)) { rmSync(dir, { recursive: true, force: true }); return; }
      // short names keep overlay's lowerdir option (one page at most) short
      let id = dir.startsWith(join(this.root, 'tmp')) ? dir.slice(dir.lastIndexOf('-') + 1) : randomBytes(4).toString('hex');
      while (existsSync(join(this.root, 'layers', id))) id += Math.floor(Math.random() * 36).toString(36);
      renameSync(dir, join(this.root, 'layers', id));
      this.layers[chainID] = { id, diffID, parent, size };
      this.save();
    });
  }

  /** Removes a layer snapshot that nothing uses any more. */
  remove(chainID: string): void {
    withFileLock(join(this.root, 'lock'), () => {
      this.layers = this.load();
      const l = this.layers[chainID];
      if (!l) return;
      delete this.layers[chainID];
      this.save();
      rmSync(join(this.root, 'layers', l.id), { recursive: true, force: true });
    });
  }

  /** Lower directories of a chain, top first (overlay's lowerdir order). */
  lowerDirs(chainID: string): string[] {
    const dirs: string[] = [];
    for (let c: string | null = chainID; c !== null; c = this.known(c)?.parent ?? null) dirs.push(this.layerDir(c));
    return dirs;
  }

  /**
   * A writable root for a container over `chainID` (null: an empty root).
   * `transient` (an auto-removed container's): overlay's `volatile`, which
   * skips the syncs of the writable layer (its unmount commits the whole
   * filesystem's journal otherwise), as podman does for `--rm`. After a crash
   * of the machine such a layer cannot be mounted again; it is removed.
   */
  prepare(key: string, chainID: string | null, transient = false): Mount[] {
    const dir = join(this.root, 'active', key);
    if (existsSync(dir)) throw new InvalidInput(key, 'a snapshot with this key exists');
    mkdirSync(dir);
    const lowers = chainID ? this.lowerDirs(chainID) : [];
    if (this.driver === 'copy') {
      mkdirSync(join(dir, 'copy'));
      copyMerged([...lowers].reverse(), join(dir, 'copy'));
      return [{ type: 'bind', source: join(dir, 'copy'), options: ['rbind', 'rw'] }];
    }
    mkdirSync(join(dir, 'upper'));
    mkdirSync(join(dir, 'work'));
    if (lowers.length === 0) return [{ type: 'bind', source: join(dir, 'upper'), options: ['rbind', 'rw'] }];
    // an upper dir is a plain layer (its diff reads it; a build step's becomes a lower): no redirects or metadata-only copies, whatever the kernel's defaults
    return [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers.join(':')}`, `upperdir=${join(dir, 'upper')}`, `workdir=${join(dir, 'work')}`, 'index=off', 'redirect_dir=off', 'metacopy=off', ...(transient ? ['volatile'] : [])] }];
  }

  /** A read-only view of `chainID` for inspection; release(key) when done. */
  view(key: string, chainID: string): Mount[] {
    const lowers = this.lowerDirs(chainID);
    if (this.driver === 'overlay') {
      // overlay needs two lowers for a read-only mount without an upper
      if (lowers.length === 1) return [{ type: 'bind', source: lowers[0]!, options: ['rbind', 'ro'] }];
      mkdirSync(join(this.root, 'active', key));
      return [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers.join(':')}`] }];
    }
    return this.prepare(key, chainID).map((m) => ({ ...m, options: [...m.options.filter((o) => o !== 'rw'), 'ro'] }));
  }

  /** The writable directory of an active snapshot (what a diff reads). */
  upperDir(key: string): string {
    const dir = join(this.root, 'active', key);
    return this.driver === 'copy' ? join(dir, 'copy') : join(dir, 'upper');
  }

  release(key: string): void {
    discard(join(this.root, 'active', key), join(this.root, 'trash'));
  }

  active(): string[] {
    return readdirSync(join(this.root, 'active'));
  }
}

/** Mounts `mounts` at `target` (the engine's job for a container's root). */
export function mountAll(mounts: Mount[], target: string): void {
  const f = fsx();
  for (const m of mounts) {
    const opts = m.options.filter((o) => o !== 'rbind' && o !== 'bind');
    const ro = opts.includes('ro');
    try {
      if (m.type === 'bind') {
        f.mount(m.source, target, '', MS_BIND | MS_REC, '');
        if (ro) f.mount('', target, '', MS_BIND | MS_REMOUNT | MS_RDONLY, '');
      } else {
        const data = opts.filter((o) => o !== 'ro' && o !== 'rw');
        // a volatile overlay mounted before refuses a second mount while its marker stays; a transient root lives
        // within one boot (what is left of one after a crash is removed at start), so its data is still whole
        const work = data.includes('volatile') ? data.find((o) => o.startsWith('workdir='))?.slice(8) : undefined;
        if (work) rmSync(join(work, 'work', 'incompat', 'volatile'), { recursive: true, force: true });
        try { f.mount(m.source, target, m.type, ro ? MS_RDONLY : 0, data.join(',')); } catch (e) {
          // a kernel before 5.10 has no overlay `volatile`: without it, the layer is synced as any other
          if ((e as NodeJS.ErrnoException).code !== 'EINVAL' || !data.includes('volatile')) throw e;
          f.mount(m.source, target, m.type, ro ? MS_RDONLY : 0, data.filter((o) => o !== 'volatile').join(','));
        }
      }
    } catch (e) {
      throw new Error(`mount ${m.type} on ${target}: ${(e as Error).message}`);
    }
  }
}
