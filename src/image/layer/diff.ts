// A container's changes as a layer tar. With overlay they are its upper
// directory, whose whiteouts (0/0 character devices) are written as `.wh.NAME`
// and opaque directories as `.wh..wh..opq`; with the copy driver they are
// found by comparing the copy with the image's layers. The tar is reproducible:
// entries in byte order of their names, no user or group names, no access or
// change times, so the same tree gives the same digest.
import { lstatSync, readdirSync, readlinkSync, createReadStream, type Stats } from 'node:fs';
import { createHash } from 'node:crypto';
import { Transform, type Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type tar from 'tar-stream';
import { tarStream } from './tar-pax.js';
import { OPAQUE_MARKER, WHITEOUT_PREFIX, contentXattrs, devNumbers, isOpaque, isWhiteout } from './overlay-format.js';

const EPOCH = new Date(0);

/** Pax records of the file's xattrs (raw bytes, see tar-pax.ts), or none. */
function xattrs(p: string): Record<string, string> | undefined {
  const x = contentXattrs(p);
  return x.length ? Object.fromEntries(x.map(([name, v]) => [`SCHILY.xattr.${name}`, v.toString('latin1')])) : undefined;
}

function header(name: string, st: Stats): Partial<tar.Header> & { name: string } {
  return {
    name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: new Date(Math.floor(st.mtimeMs / 1000) * 1000),
    uname: '', gname: '', linkname: '', devmajor: 0, devminor: 0,
  };
}

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

export interface DiffResult { diffID: string; size: number }

/** One change of the layer, in the order the tar gets it. */
type Change =
  | { kind: 'whiteout'; rel: string }
  | { kind: 'opaque'; rel: string }
  | { kind: 'entry'; rel: string; path: string; st: Stats };

/** Changes in an overlay upper dir: everything in it, whiteouts and opaque dirs as overlay marks them. */
function* overlayChanges(dir: string, rel = ''): Generator<Change> {
  for (const name of readdirSync(dir).sort(byBytes)) {
    const p = `${dir}/${name}`, r = rel ? `${rel}/${name}` : name;
    const st = lstatSync(p);
    if (isWhiteout(st)) { yield { kind: 'whiteout', rel: r }; continue; }
    yield { kind: 'entry', rel: r, path: p, st };
    if (st.isDirectory()) {
      if (isOpaque(p)) yield { kind: 'opaque', rel: r };
      yield* overlayChanges(p, r);
    }
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

function sameEntry(a: Stats, ap: string, b: Stats, bp: string): boolean {
  const kind = (s: Stats) => (s.isFile() ? 'f' : s.isDirectory() ? 'd' : s.isSymbolicLink() ? 'l' : s.isFIFO() ? 'p' : s.isCharacterDevice() ? 'c' : 'b');
  if (kind(a) !== kind(b) || (a.mode & 0o7777) !== (b.mode & 0o7777) || a.uid !== b.uid || a.gid !== b.gid) return false;
  if (a.isDirectory()) return JSON.stringify(xattrs(ap)) === JSON.stringify(xattrs(bp)) && Math.floor(a.mtimeMs / 1000) === Math.floor(b.mtimeMs / 1000);
  if (a.isSymbolicLink()) return readlinkSync(ap) === readlinkSync(bp);
  if (a.size !== b.size || Math.floor(a.mtimeMs / 1000) !== Math.floor(b.mtimeMs / 1000) || a.rdev !== b.rdev) return false;
  return JSON.stringify(xattrs(ap)) === JSON.stringify(xattrs(bp));
}

/** Changes of a full copy (the copy driver) against its lower layers: what differs, and whiteouts for what went. */
function* copyChanges(dir: string, lowers: string[], rel = ''): Generator<Change> {
  const here = lowerView(lowers, rel);
  const names = new Set([...readdirSync(dir), ...here.children]);
  for (const name of [...names].sort(byBytes)) {
    const p = `${dir}/${name}`, r = rel ? `${rel}/${name}` : name;
    let st: Stats | undefined;
    try { st = lstatSync(p); } catch { st = undefined; }
    if (!st) { yield { kind: 'whiteout', rel: r }; continue; }
    const low = here.children.has(name) ? lowerView(lowers, r) : undefined;
    const changed = !low?.st || !sameEntry(st, p, low.st, low.path!);
    if (changed || st.isDirectory()) {
      // an unchanged directory is still walked, but only written if something in it is
      if (changed) yield { kind: 'entry', rel: r, path: p, st };
      if (st.isDirectory()) {
        if (low?.st && !low.st.isDirectory()) { yield* overlayChanges(p, r); continue; }
        const inner = [...copyChanges(p, lowers, r)];
        if (inner.length && !changed) yield { kind: 'entry', rel: r, path: p, st };
        yield* inner;
      }
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
export function mountPointEntries(upper: string, points: string[], lowers: string[]): Set<string> {
  const omit = new Set<string>(), parents = new Set<string>();
  for (const point of points) {
    const rel = point.replace(/^\/+|\/+$/g, '');
    if (!rel) continue;
    let st: Stats;
    try { st = lstatSync(`${upper}/${rel}`); } catch { continue; }
    if (!(st.isFile() ? st.size === 0 : st.isDirectory() && readdirSync(`${upper}/${rel}`).length === 0)) continue;
    omit.add(rel);
    for (let i = rel.lastIndexOf('/'); i > 0; i = rel.lastIndexOf('/', i - 1)) parents.add(rel.slice(0, i));
  }
  for (const dir of [...parents].sort((a, b) => b.length - a.length)) { // deepest first
    const p = `${upper}/${dir}`;
    let st: Stats;
    try { st = lstatSync(p); } catch { continue; }
    if (!st.isDirectory() || isOpaque(p) || !readdirSync(p).every((n) => omit.has(`${dir}/${n}`))) continue;
    const low = lowerView(lowers, dir).st;
    if (low && (!low.isDirectory() || (low.mode & 0o7777) !== (st.mode & 0o7777) || low.uid !== st.uid || low.gid !== st.gid)) continue;
    omit.add(dir);
  }
  return omit;
}

/** Writes `changes` as a reproducible layer tar to `out`; returns its diffID. */
async function writeChanges(changes: Iterable<Change>, out: Writable): Promise<DiffResult> {
  const pack = tarStream().pack();
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({ transform(c: Buffer, _e, cb) { hash.update(c); size += c.length; cb(null, c); } });
  const done = pipeline(pack as unknown as Readable, tap, out);
  const put = (h: Partial<tar.Header> & { name: string; pax?: Record<string, string> }, body?: Buffer | Readable) => new Promise<void>((res, rej) => {
    if (body === undefined || Buffer.isBuffer(body)) { pack.entry(h as tar.Header, body ?? Buffer.alloc(0), (e) => (e ? rej(e) : res())); return; }
    const sink = pack.entry(h as tar.Header, (e) => (e ? rej(e) : res()));
    body.on('error', rej);
    body.pipe(sink as unknown as Writable);
  });
  const links = new Map<string, string>(); // inode → first name, for hardlinks within the layer
  const mark = (rel: string, marker: string) => {
    const i = rel.lastIndexOf('/');
    return i < 0 ? marker : `${rel.slice(0, i)}/${marker}`;
  };
  for (const c of changes) {
    if (c.kind === 'whiteout') { await put({ name: mark(c.rel, `${WHITEOUT_PREFIX}${c.rel.slice(c.rel.lastIndexOf('/') + 1)}`), mode: 0, mtime: EPOCH, type: 'file', size: 0 }); continue; }
    if (c.kind === 'opaque') { await put({ name: `${c.rel}/${OPAQUE_MARKER}`, mode: 0, mtime: EPOCH, type: 'file', size: 0 }); continue; }
    const { rel: r, path: p, st } = c;
    const h = { ...header(r, st), pax: xattrs(p) };
    if (st.isDirectory()) { await put({ ...h, name: `${r}/`, type: 'directory' }); continue; }
    const inode = `${st.dev}:${st.ino}`;
    const first = st.nlink > 1 ? links.get(inode) : undefined;
    if (first) { await put({ ...h, type: 'link', linkname: first, size: 0 }); continue; }
    if (st.nlink > 1) links.set(inode, r);
    if (st.isFile()) await put({ ...h, type: 'file', size: st.size }, st.size ? createReadStream(p) : undefined);
    else if (st.isSymbolicLink()) await put({ ...h, type: 'symlink', linkname: readlinkSync(p) });
    else if (st.isFIFO()) await put({ ...h, type: 'fifo' });
    else if (st.isCharacterDevice() || st.isBlockDevice()) {
      const { major, minor } = devNumbers(st.rdev);
      await put({ ...h, type: st.isCharacterDevice() ? 'character-device' : 'block-device', devmajor: major, devminor: minor });
    }
    // sockets are not carried in layers
  }
  pack.finalize();
  await done;
  return { diffID: `sha256:${hash.digest('hex')}`, size };
}

/**
 * Writes a container's changes to `out` as a layer tar. With the overlay
 * driver `upper` is the upper dir; with the copy driver it is the full copy
 * and `lowers` (top first) are the image's layers it is compared with.
 * `omit`: entries left out (see mountPointEntries).
 */
export function diffLayer(upper: string, out: Writable, lowers?: string[], omit = new Set<string>()): Promise<DiffResult> {
  const changes = lowers ? copyChanges(upper, lowers) : overlayChanges(upper);
  return writeChanges(omit.size ? without(changes, omit) : changes, out);
}

function* without(changes: Iterable<Change>, omit: Set<string>): Generator<Change> {
  for (const c of changes) if (!omit.has(c.rel)) yield c;
}
