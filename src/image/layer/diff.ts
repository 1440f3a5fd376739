// A container's changes as a layer tar. With overlay they are its upper
// directory, whose whiteouts (0/0 character devices) are written as `.wh.NAME`
// and opaque directories as `.wh..wh..opq`; with the copy driver they are
// found by comparing the copy with the image's layers. The tar is reproducible:
// entries in byte order of their names, no user or group names, no access or
// change times, so the same tree gives the same digest. The container's side
// (upper dir or copy) is read by fd only: it may change it while berth reads.
import { lstatSync, readdirSync, readlinkSync, fstatSync, type Stats } from 'node:fs';
import type { Writable } from 'node:stream';
import { OPAQUE_MARKER, WHITEOUT_PREFIX, contentXattrs, isOpaque, isOpaqueFd, isWhiteout } from './overlay-format.js';
import {
  byBytes, closeFd, openChild, walk, withRootDir, writeTar, writeTarSync, xattrsOf, type RootDir, type TarItem,
} from '../confined/index.js';
import { fsx } from '../../util/fsx.js';

function marker(rel: string, name: string): TarItem {
  const i = rel.lastIndexOf('/');
  return { kind: 'marker', rel: i < 0 ? name : `${rel.slice(0, i)}/${name}` };
}

/** Changes in an overlay upper dir (open as `dirfd`): everything in it, whiteouts and opaque dirs as overlay marks them. */
function* overlayChanges(dirfd: number): Generator<TarItem> {
  for (const e of walk(dirfd, '', (d) => !isWhiteout(d.st))) {
    if (isWhiteout(e.st)) { yield marker(e.rel, `${WHITEOUT_PREFIX}${e.name}`); continue; }
    yield { kind: 'entry', rel: e.rel, st: e.st, fd: e.fd };
    if (e.st.isDirectory() && isOpaqueFd(e.fd)) yield { kind: 'marker', rel: `${e.rel}/${OPAQUE_MARKER}` };
  }
}

/** What the lower layers (top first) show at `rel`, overlay's way: whiteouts hide, opaque dirs stop the search. */
function lowerView(lowers: string[], rel: string): { st?: Stats; path?: string; children: Set<string> } {
  const children = new Set<string>(), hidden = new Set<string>();
  let found: { st: Stats; path: string } | undefined;
  for (const l of lowers) {
    const p = rel ? `${l}/${rel}` : l;
    let st: Stats;
    try { st = lstatSync(p); } catch { continue; }
    if (isWhiteout(st)) break; // deleted here: nothing below counts
    if (!found) found = { st, path: p };
    if (!st.isDirectory()) break;
    for (const c of readdirSync(p)) {
      const cst = lstatSync(`${p}/${c}`);
      if (isWhiteout(cst)) hidden.add(c);
      else if (!hidden.has(c)) children.add(c);
    }
    if (isOpaque(p)) break;
  }
  return { ...found, children };
}

const kindOf = (s: Stats) => (s.isFile() ? 'f' : s.isDirectory() ? 'd' : s.isSymbolicLink() ? 'l' : s.isFIFO() ? 'p' : s.isCharacterDevice() ? 'c' : 'b');
const sameXattrs = (fd: number, st: Stats, lowerPath: string) => JSON.stringify(xattrsOf(fd, st)) === JSON.stringify(contentXattrs(lowerPath));

/** Whether the copy's entry (open as `fd`) equals the lower layers' one at `bp`. */
function sameEntry(a: Stats, fd: number, b: Stats, bp: string): boolean {
  if (kindOf(a) !== kindOf(b) || (a.mode & 0o7777) !== (b.mode & 0o7777) || a.uid !== b.uid || a.gid !== b.gid) return false;
  const sameTime = Math.floor(a.mtimeMs / 1000) === Math.floor(b.mtimeMs / 1000);
  if (a.isDirectory()) return sameTime && sameXattrs(fd, a, bp);
  if (a.isSymbolicLink()) return fsx().readlinkat(fd, '') === readlinkSync(bp);
  if (a.size !== b.size || !sameTime || a.rdev !== b.rdev) return false;
  return sameXattrs(fd, a, bp);
}

/** Changes of a full copy (the copy driver, its directory open as `dirfd`) against its lower layers: what differs, and whiteouts for what went. */
function* copyChanges(dirfd: number, lowers: string[], rel = ''): Generator<TarItem> {
  const here = lowerView(lowers, rel);
  const names = new Set([...fsx().readdirFd(dirfd), ...here.children]);
  for (const name of [...names].sort(byBytes)) {
    const r = rel ? `${rel}/${name}` : name;
    const fd = openChild(dirfd, name);
    if (fd === undefined) { yield marker(r, `${WHITEOUT_PREFIX}${name}`); continue; }
    try {
      const st = fstatSync(fd);
      const low = here.children.has(name) ? lowerView(lowers, r) : undefined;
      const changed = !low?.st || !sameEntry(st, fd, low.st, low.path!);
      const entry: TarItem = { kind: 'entry', rel: r, st, fd };
      if (changed) yield entry;
      if (!st.isDirectory()) continue;
      if (low?.st && !low.st.isDirectory()) { yield* overlayChanges(fd); continue; }
      // an unchanged directory is still walked, but only written if something in it is
      // (looked at first, then walked again: an entry's fd is open only while it is visited)
      if (!changed) {
        const look = copyChanges(fd, lowers, r);
        const any = !look.next().done;
        look.return(undefined);
        if (!any) continue;
        yield entry;
      }
      yield* copyChanges(fd, lowers, r);
    } finally {
      closeFd(fd);
    }
  }
}

/**
 * The entries of an overlay upper dir that are only a runtime's mount points
 * (`points`, such as /etc/hosts, which berth makes for its binds): empty
 * files and directories at those paths, and the directories that hold
 * nothing else and are new or the lower one's copy (same mode and owner).
 * docker keeps these in a hidden init layer; diffs and commits leave them out.
 */
export function mountPointEntries(upper: string, points: string[], lowers: string[]): Promise<Set<string>> {
  return withRootDir(upper, (root) => omittedIn(root, points, lowers));
}

function omittedIn(root: RootDir, points: string[], lowers: string[]): Set<string> {
  const omit = new Set<string>(), parents = new Set<string>();
  const look = <T>(rel: string, fn: (st: Stats, fd: number) => T): T | undefined => {
    const found = root.stat(rel, false);
    if (!found) return undefined;
    try { return fn(found.st, found.fd); } finally { closeFd(found.fd); }
  };
  for (const point of points) {
    const rel = point.replace(/^\/+|\/+$/g, '');
    if (!rel) continue;
    const empty = look(rel, (st, fd) => (st.isFile() ? st.size === 0 : st.isDirectory() && fsx().readdirFd(fd).length === 0));
    if (!empty) continue;
    omit.add(rel);
    for (let i = rel.lastIndexOf('/'); i > 0; i = rel.lastIndexOf('/', i - 1)) parents.add(rel.slice(0, i));
  }
  for (const dir of [...parents].sort((a, b) => b.length - a.length)) { // deepest first
    const keep = look(dir, (st, fd) => {
      if (!st.isDirectory() || isOpaqueFd(fd) || !fsx().readdirFd(fd).every((n) => omit.has(`${dir}/${n}`))) return false;
      const low = lowerView(lowers, dir).st;
      return !(low && (!low.isDirectory() || (low.mode & 0o7777) !== (st.mode & 0o7777) || low.uid !== st.uid || low.gid !== st.gid));
    });
    if (keep) omit.add(dir);
  }
  return omit;
}

/**
 * Writes a container's changes to `out` as a layer tar. With the overlay
 * driver `upper` is the upper dir; with the copy driver it is the full copy
 * and `lowers` (top first) are the image's layers it is compared with.
 * `omit`: entries left out (see mountPointEntries).
 */
export function diffLayer(upper: string, out: Writable, lowers?: string[], omit = new Set<string>(), clampMtime?: number): Promise<void> {
  return withRootDir(upper, (root) => {
    const changes = lowers ? copyChanges(root.fd, lowers) : overlayChanges(root.fd);
    const kept = omit.size ? without(changes, omit) : changes;
    return writeTar(clampMtime === undefined ? kept : clamped(kept, clampMtime), out);
  });
}

/** An overlay upper dir's changes as a layer tar, made without streams into `sink` (see writeTarSync). */
export function diffUpperSync(upper: string, sink: (chunk: Buffer) => void): Promise<void> {
  return withRootDir(upper, (root) => writeTarSync(overlayChanges(root.fd), sink));
}

/** Entries no newer than `epoch` (seconds): SOURCE_DATE_EPOCH's reproducible layers, as BuildKit clamps them. */
function* clamped(changes: Iterable<TarItem>, epoch: number): Generator<TarItem> {
  for (const c of changes) {
    if (c.kind === 'marker' || c.st.mtimeMs <= epoch * 1000) { yield c; continue; }
    yield { ...c, st: Object.assign(Object.create(Object.getPrototypeOf(c.st)) as typeof c.st, c.st, { mtimeMs: epoch * 1000, mtime: new Date(epoch * 1000) }) };
  }
}

function* without(changes: Iterable<TarItem>, omit: Set<string>): Generator<TarItem> {
  for (const c of changes) if (!omit.has(c.rel)) yield c;
}
