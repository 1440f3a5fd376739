// Unpacks a tar into a directory of an untrusted tree (docker cp into a
// container), by fd only (see tree.ts). Each entry's parent is resolved
// inside the tree's root, as the container sees it; the entry is then made
// in that parent by name, with calls that never follow a final symlink, so
// a name the container swaps for a link while berth works never leads out.
// Names with ".." are refused; what is already there is replaced.
import { createHash } from 'node:crypto';
import { fstatSync, ftruncateSync, futimesSync, fchownSync, fchmodSync, readSync, writeSync, constants as C, type Stats } from 'node:fs';
import { posix } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type tar from 'tar-stream';
import { tarStream } from '../layer/tar-pax.js';
import { fsx, S_IFBLK, S_IFCHR, S_IFIFO } from '../../util/fsx.js';
import { InvalidInput } from '../../util/check.js';
import { closeFd, createChild, openChild, openChildWith, removeChild, reopenForReading, walk, type RootDir } from './tree.js';
import { itemHeader, type TarItem } from './pack.js';

const MAX_NAME = 4096;

export class ArchiveError extends InvalidInput {}

/** The entry's name as a clean relative path; `..` anywhere is refused. */
export function entryPath(name: string, what = 'layer entry'): string {
  if (name.length > MAX_NAME) throw new ArchiveError(`${what} ${JSON.stringify(name.slice(0, 64))}...`, 'name is too long');
  if (name.includes('\0')) throw new ArchiveError(`${what} ${JSON.stringify(name)}`, 'name contains NUL');
  const parts = name.split('/').filter((c) => c && c !== '.');
  if (parts.includes('..')) throw new ArchiveError(`${what} ${JSON.stringify(name)}`, 'refers to ".." (outside the archive\'s root)');
  return parts.join('/');
}

/** The extended attributes a tar header carries (GNU tar's and libarchive's records). */
export function headerXattrs(h: tar.Header): [string, Buffer][] {
  const out: [string, Buffer][] = [];
  for (const [k, v] of Object.entries((h.pax ?? {}) as Record<string, string>)) {
    if (k.startsWith('SCHILY.xattr.')) out.push([k.slice(13), Buffer.from(v, 'latin1')]);
    else if (k.startsWith('LIBARCHIVE.xattr.')) out.push([decodeURIComponent(k.slice(17)), Buffer.from(v, 'base64')]);
  }
  return out;
}

/** An entry's bytes: a tar's stream, or (copyInto) the file they are in. */
type Body = AsyncIterable<unknown> & { resume(): unknown; source?: number };

/** `size` bytes of the file open (O_PATH) as `source` into `fd`, in the kernel; zeros where the source has become shorter. */
function copyBytes(source: number, fd: number, size: number): void {
  const rfd = reopenForReading(source);
  try {
    if (fsx().copyFileRange(rfd, fd, size) < size) ftruncateSync(fd, size);
  } finally { closeFd(rfd); }
}

const NO_BYTES: Body = { resume: () => undefined, async *[Symbol.asyncIterator]() { /* nothing */ } };

/**
 * Copies `items` (a tree held by fd, as writeTar takes them) into `dest`
 * as unpackInto unpacks their tar, without making one: the same headers,
 * the same checks, a file's bytes moved by the kernel.
 */
export async function copyInto(dest: RootDir, items: Iterable<TarItem>): Promise<void> {
  const u = new Unpacker(dest, '/');
  const links = new Map<string, string>();
  try {
    for (const item of items) {
      const e = itemHeader(item, links);
      if (e) await u.entry(e.h as tar.Header, e.file?.size ? { ...NO_BYTES, source: e.file.fd } : NO_BYTES);
    }
  } finally { u.release(); }
  u.finish();
}

/**
 * The sha256 of regular files syncInto wrote or checked, by their inode and
 * times (statKey): a COPY's digest then reads none of them again. Any change
 * to such a file since (a container that wrote to the context) changes its
 * ctime, which no one can set back, and so its key.
 */
export const contentHashes = new Map<string, string>();
export const statKey = (st: Stats): string => `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;

/** Keeps a file's sha256 under its statKey (a bounded map: past the bound it starts again). */
export function rememberHash(st: Stats, hex: string): void {
  if (contentHashes.size >= 500_000) contentHashes.clear();
  contentHashes.set(statKey(st), hex);
}

const remember = (fd: number, hex: string): void => rememberHash(fstatSync(fd), hex);

/** The sha256 (hex) of what the open file holds, read again from its start. */
function hashOf(fd: number, size: number): string {
  const h = createHash('sha256'), b = Buffer.allocUnsafe(1 << 20);
  for (let pos = 0; pos < size;) { const n = readSync(fd, b, 0, Math.min(b.length, size - pos), pos); if (n <= 0) break; h.update(b.subarray(0, n)); pos += n; }
  return h.digest('hex');
}

/** A regular file's owner, xattrs, mode and time, as its header gives them, in the order that keeps each. */
function fileMeta(fd: number, h: tar.Header): void {
  fchownSync(fd, h.uid ?? 0, h.gid ?? 0);
  for (const [k, v] of headerXattrs(h)) fsx().setxattrFd(fd, k, v); // after chown, which clears security.capability
  fchmodSync(fd, (h.mode ?? 0o644) & 0o7777); // after chown, which clears setuid/setgid
  if (h.mtime) futimesSync(fd, h.mtime, h.mtime);
}

class Unpacker {
  /** Directories whose times are set last (their content changes them): the path inside the root, the time. */
  private dirTimes: [string, Date][] = [];

  /** With `sync`, the paths the archive names (see syncInto). */
  readonly seen = new Set<string>();

  constructor(private readonly root: RootDir, private readonly base: string, private readonly sync = false) {}

  async entry(h: tar.Header, body: Body): Promise<void> {
    if ((h.type as string) === 'pax-global-header') { body.resume(); return; }
    const rel = entryPath(h.name, 'archive entry');
    const full = posix.join(this.base, rel);
    if (this.sync) this.seen.add(rel);
    if (rel === '') { // the destination itself: its metadata only
      body.resume();
      if (h.type === 'directory') this.onSelf(this.root.resolve(full, true), h, full);
      return;
    }
    // what this entry makes or replaces may be the held directory or hold it: resolve again after
    if (this.held && (this.held.dir === full || this.held.dir.startsWith(`${full}/`))) this.release();
    const dir = posix.dirname(full);
    if (this.held?.dir !== dir) { // entries come a directory at a time: its fd is kept for the next ones
      this.release();
      this.held = { dir, fd: this.root.mkdirAll(dir) };
    }
    await this.make(this.held.fd, posix.basename(full), full, h, body);
  }

  /** The parent directory the last entries went into, held open while the next ones go there too. */
  private held: { dir: string; fd: number } | undefined;

  release(): void {
    if (this.held) closeFd(this.held.fd);
    this.held = undefined;
  }

  private async make(parent: number, name: string, full: string, h: tar.Header, body: Body): Promise<void> {
    const mode = (h.mode ?? 0o644) & 0o7777;
    if (h.type === 'directory') {
      body.resume();
      const had = openChild(parent, name);
      const isDir = had !== undefined && fstatSync(had).isDirectory();
      if (had !== undefined) closeFd(had);
      if (!isDir) { removeChild(parent, name); fsx().mkdirat(parent, name, 0o700); }
      this.onSelf(openChildWith(parent, name, fsx().O_PATH | C.O_DIRECTORY), h, full);
      return;
    }
    if (this.sync && (h.type === 'file' || h.type === 'contiguous-file') && await this.rewrite(parent, name, h, body)) return;
    const file = h.type === 'file' || h.type === 'contiguous-file';
    if (!file) removeChild(parent, name);
    switch (h.type) {
      case 'file': case 'contiguous-file': {
        const fd = createChild(parent, name);
        const hash = this.sync ? createHash('sha256') : undefined;
        try {
          if (body.source) copyBytes(body.source, fd, h.size ?? 0);
          else for await (const chunk of body) {
            const b = chunk as Buffer;
            hash?.update(b);
            for (let off = 0; off < b.length;) off += writeSync(fd, b, off);
          }
          fileMeta(fd, h);
          if (hash) remember(fd, hash.digest('hex'));
        } finally {
          closeFd(fd);
        }
        return;
      }
      case 'symlink':
        body.resume();
        fsx().symlinkat(h.linkname ?? '', parent, name);
        fsx().fchownat(parent, name, h.uid ?? 0, h.gid ?? 0);
        if (h.mtime) fsx().utimensat(parent, name, h.mtime.getTime() / 1000);
        return;
      case 'link': {
        body.resume();
        const targetRel = entryPath(h.linkname ?? '', 'archive entry');
        let target: number;
        try { target = this.root.resolve(posix.join(this.base, targetRel), false); } catch { throw new ArchiveError(`archive entry ${JSON.stringify(h.name)}`, `hardlink to ${JSON.stringify(h.linkname)}, which is not there`); }
        try {
          if (fstatSync(target).isDirectory()) throw new ArchiveError(`archive entry ${JSON.stringify(h.name)}`, `hardlink to a directory ${JSON.stringify(h.linkname)}`);
          fsx().linkat(target, parent, name);
        } finally {
          closeFd(target);
        }
        return;
      }
      case 'character-device': case 'block-device': case 'fifo': {
        body.resume();
        const kind = h.type === 'fifo' ? S_IFIFO : h.type === 'block-device' ? S_IFBLK : S_IFCHR;
        fsx().mknodat(parent, name, kind | 0o600, h.devmajor ?? 0, h.devminor ?? 0);
        const fd = openChildWith(parent, name, fsx().O_PATH);
        try {
          fsx().fchownat(fd, '', h.uid ?? 0, h.gid ?? 0);
          fsx().chmodFd(fd, mode);
        } finally {
          closeFd(fd);
        }
        if (h.mtime) fsx().utimensat(parent, name, h.mtime.getTime() / 1000);
        return;
      }
      default:
        body.resume();
        throw new ArchiveError(`archive entry ${JSON.stringify(h.name)}`, `unsupported entry type ${JSON.stringify(h.type)}`);
    }
  }

  /**
   * A regular file already there (of the same size, with no other link) is
   * compared with the entry as it comes and written over only where it
   * differs: making a file is what costs (a quarter of a millisecond each
   * on this machine's ext4), reading one that is in the page cache is not.
   * False, with nothing read, when the file is not such a one.
   */
  private async rewrite(parent: number, name: string, h: tar.Header, body: Body): Promise<boolean> {
    let fd: number;
    try { fd = openChildWith(parent, name, C.O_RDWR); } catch { return false; }
    try {
      const st = fstatSync(fd);
      if (!st.isFile() || st.nlink !== 1 || st.size !== (h.size ?? -1)) return false;
      let pos = 0, differs = false;
      // a file whose sha256 is known (it was written or checked so, and is unchanged since) is not hashed again when it still matches
      const prior = contentHashes.get(statKey(st));
      const had = Buffer.allocUnsafe(1 << 16), hash = prior ? undefined : createHash('sha256');
      for await (const chunk of body) {
        const b = chunk as Buffer;
        hash?.update(b);
        for (let off = 0; off < b.length;) {
          const n = Math.min(had.length, b.length - off);
          const got = readSync(fd, had, 0, n, pos);
          if (got !== n || !had.subarray(0, n).equals(b.subarray(off, off + n))) { differs = true; for (let w = 0; w < n;) w += writeSync(fd, b, off + w, n - w, pos + w); }
          off += n;
          pos += n;
        }
      }
      fileMeta(fd, h);
      remember(fd, hash ? hash.digest('hex') : differs ? hashOf(fd, st.size) : prior!);
      return true;
    } finally {
      closeFd(fd);
    }
  }

  /** Owner, xattrs and mode of the directory open (O_PATH) as `fd`, which this closes; its time comes last. */
  private onSelf(fd: number, h: tar.Header, full: string): void {
    try {
      fsx().fchownat(fd, '', h.uid ?? 0, h.gid ?? 0);
      for (const [k, v] of headerXattrs(h)) fsx().setxattrFd(fd, k, v);
      fsx().chmodFd(fd, (h.mode ?? 0o755) & 0o7777);
    } finally {
      closeFd(fd);
    }
    if (h.mtime) this.dirTimes.push([full, h.mtime]);
  }

  /** Directories' times, deepest last-made first, each resolved inside the root again. */
  finish(): void {
    this.release();
    for (const [full, t] of this.dirTimes.reverse()) {
      const name = posix.basename(full);
      if (!name || name === '.') continue;
      let parent: number;
      try { parent = this.root.resolve(posix.dirname(full), true); } catch { continue; }
      try { fsx().utimensat(parent, name, t.getTime() / 1000); } catch { /* removed by a later entry */ } finally { closeFd(parent); }
    }
  }
}

/**
 * Unpacks the tar `src` into `dest` (a directory, open as a RootDir),
 * replacing what is there: entries are made beneath it, as if it were "/".
 * Refuses the whole archive at its first bad entry (what came before
 * stays, as with docker cp).
 */
export async function unpackInto(dest: RootDir, src: Readable): Promise<void> {
  await unpack(new Unpacker(dest, '/'), src);
}

/**
 * Makes `dest` what the tar `src` holds, from what a tar before left there
 * (a build context again): files already there are written over only where
 * they differ, and what the tar does not name (nor holds below it) is
 * removed. A directory whose content is wrong (a crash between, or a
 * container that wrote to it) is made right. `unchanged`: paths the tar
 * leaves out because `dest` has them already; those not there are returned.
 */
export async function syncInto(dest: RootDir, src: Readable, unchanged: string[] = []): Promise<string[]> {
  const u = new Unpacker(dest, '/', true);
  await unpack(u, src);
  const keep = new Set<string>();
  for (const rel of [...u.seen, ...unchanged]) for (let p = rel; p && !keep.has(p); p = posix.dirname(p) === '.' ? '' : posix.dirname(p)) keep.add(p);
  const top = dest.resolve('/', true);
  const present = new Set<string>();
  try {
    const gone: string[] = [];
    for (const e of walk(top, '', (d) => keep.has(d.rel))) if (!keep.has(e.rel)) gone.push(e.rel); else present.add(e.rel);
    for (const rel of gone) {
      const parent = dest.resolve(`/${posix.dirname(rel)}`, true);
      try { removeChild(parent, posix.basename(rel)); } finally { closeFd(parent); }
    }
  } finally { closeFd(top); }
  return unchanged.filter((rel) => !present.has(rel));
}

async function unpack(u: Unpacker, src: Readable): Promise<void> {
  const extract = tarStream().extract();
  extract.on('entry', (h, body, next) => { u.entry(h, body).then(() => next(), (e: Error) => { body.resume(); next(e); }); });
  try { await pipeline(src, extract as unknown as Writable); } finally { u.release(); }
  u.finish();
}
