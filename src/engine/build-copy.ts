// COPY and ADD for the builder: what a source names in a tree berth does
// not trust (the build context, or another image's root), held by fd, and
// the tar of it under its destination, with --chown and --chmod applied.
// Sources are resolved inside the tree (RESOLVE_IN_ROOT): a symlink in the
// context is copied as a symlink and never followed out of it, and a path
// that climbs out with .. is refused by name, as docker refuses it.
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { Stats } from 'node:fs';
import { closeFd, contentHashes, fileChunks, rememberHash, statKey, walk, type RootDir, type TarItem } from '../image/index.js';
import { fsx } from '../util/fsx.js';
import { InvalidInput, NotFound } from '../util/check.js';

export interface CopyEntry { rel: string; st: Stats; fd: number }

/** A context path ignored by .dockerignore (the API gives the matcher). */
export type Ignored = (rel: string) => boolean;

const GLOB = /[*?[]/;

/** filepath.Match's pattern, one path component at a time. */
function componentRegex(p: string): RegExp {
  let out = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '\\' && i + 1 < p.length) out += p[++i]!.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
    else if (c === '[') { const end = p.indexOf(']', i + 1); if (end < 0) throw new InvalidInput('COPY', `syntax error in pattern: ${p}`); out += `[${p.slice(i + 1, end).replace(/^!/, '^')}]`; i = end; } else out += c.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
  }
  return new RegExp(`^${out}$`, 's');
}

/** A source as docker cleans it: relative to the tree's root; refused when it climbs out. */
function cleanSource(src: string): string {
  const c = posix.normalize(`/${src}`);
  if (posix.normalize(src).startsWith('..')) throw new InvalidInput('COPY', `forbidden path outside the build context: ${src} ()`);
  return c;
}

/** The paths `src` names in the tree: itself, or what its wildcards match (sorted). */
export function matchSources(root: RootDir, src: string, ignored: Ignored): string[] {
  const clean = cleanSource(src);
  if (!GLOB.test(clean)) return [clean];
  const parts = clean.split('/').filter(Boolean).map(componentRegex);
  const out: string[] = [];
  const top = root.resolve('/', true);
  try {
    for (const e of walk(top, '', (d) => d.rel.split('/').length < parts.length && parts[d.rel.split('/').length - 1]!.test(d.name))) {
      const comps = e.rel.split('/');
      if (comps.length === parts.length && comps.every((c, i) => parts[i]!.test(c)) && !ignored(e.rel)) out.push(`/${e.rel}`);
    }
  } finally { closeFd(top); }
  return out.sort();
}

/**
 * The entries a source copies, named as they land under `dest`: a
 * directory's contents (not the directory itself), or the file (or link)
 * as `dest` when it names a file, or under it when `dest` is a directory.
 */
export function* sourceEntries(root: RootDir, path: string, dest: string, destIsDir: boolean, ignored: Ignored): Generator<CopyEntry> {
  const found = root.stat(path, false);
  if (!found || ignored(path.slice(1))) throw new NotFound('COPY', `${path.slice(1) || '.'}: not found`);
  let followed = found;
  if (found.st.isSymbolicLink() && path !== '/') { // a named link to a directory copies the directory, followed inside the tree
    const target = root.stat(path, true);
    if (target?.st.isDirectory()) { closeFd(found.fd); followed = target; } else target && closeFd(target.fd);
  }
  try {
    if (!followed.st.isDirectory()) {
      yield { rel: destIsDir ? posix.join(dest, posix.basename(path)) : dest, st: followed.st, fd: followed.fd };
      return;
    }
    if (dest !== '/') yield { rel: dest, st: followed.st, fd: followed.fd }; // the directory itself, made at dest with its mode
    for (const e of walk(followed.fd)) {
      const rel = posix.join(path, e.rel).slice(1);
      if (ignored(rel)) continue;
      yield { rel: posix.join(dest, e.rel), st: e.st, fd: e.fd };
    }
  } finally { closeFd(followed.fd); }
}

/** Stats with the owner and mode a COPY gives (root, or --chown; --chmod). */
function restat(st: Stats, uid: number, gid: number, chmod: number | undefined): Stats {
  const mode = chmod === undefined ? st.mode : (st.mode & ~0o7777) | chmod;
  return Object.assign(Object.create(Object.getPrototypeOf(st)) as Stats, st, { uid, gid, mode });
}

/** The tar items of the entries, named relative to /, owned and moded as the COPY says (missing parents are made 0755 on unpacking). */
export function* copyItems(entries: Iterable<CopyEntry>, uid: number, gid: number, chmod: number | undefined): Generator<TarItem> {
  for (const e of entries) yield { kind: 'entry', rel: e.rel.replace(/^\/+/, ''), st: restat(e.st, uid, gid, chmod), fd: e.fd };
}

/** A file's sha256 (hex), read from it. */
async function fileHash(fd: number, size: number): Promise<string> {
  const h = createHash('sha256');
  for await (const b of fileChunks(fd, size)) h.update(b);
  return h.digest('hex');
}

/** What a COPY copies, as a digest of each entry (name, type, mode, link target, its contents' sha256; never mtimes) and of them all, in order. */
export async function contentDigest(entries: Iterable<CopyEntry>): Promise<{ digest: string; files: Record<string, string> }> {
  const all = createHash('sha256');
  const files: Record<string, string> = {};
  for (const e of entries) {
    const h = createHash('sha256').update(`${e.st.mode}\0`);
    if (e.st.isFile()) {
      let hex = contentHashes.get(statKey(e.st));
      if (!hex) rememberHash(e.st, hex = await fileHash(e.fd, e.st.size)); // the next build's digest reads it no more
      h.update(hex);
    }
    else if (e.st.isSymbolicLink()) h.update(fsx().readlinkat(e.fd, ''));
    files[e.rel] = h.digest('hex');
    all.update(`${e.rel}\0${files[e.rel]}\0`);
  }
  return { digest: all.digest('hex'), files };
}
