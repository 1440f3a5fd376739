// Unpacks one layer (a tar, plain, gzip or zstd) into its own directory in
// overlayfs's format: a whiteout `.wh.NAME` becomes a 0/0 character device
// NAME, an opaque marker `.wh..wh..opq` becomes trusted.overlay.opaque=y on
// its directory. Ownership, modes (setuid/setgid/sticky), mtimes, hardlinks,
// symlinks, device nodes, fifos and xattrs are kept.
//
// Nothing is written outside `dest`: names with `..` are refused, absolute
// names are taken as relative to the layer root, symlinks met on the way to an
// entry are followed inside `dest` only (as if `dest` were /), and hardlinks
// must point at an earlier entry of the same layer.
import { createHash, type Hash } from 'node:crypto';
import { createGunzip } from 'node:zlib';
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  chmodSync, chownSync, closeSync, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync,
  mkdirSync, openSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeSync, type Stats,
} from 'node:fs';
import { posix } from 'node:path';
import type tar from 'tar-stream';
import { tarStream } from './tar-pax.js';
import { OPAQUE_MARKER, WHITEOUT_PREFIX, markOpaque } from './overlay-format.js';
import { Decompress as ZstdDecompress } from 'fzstd';
import { InvalidInput } from '../../util/check.js';
import { entryPath, headerXattrs } from '../confined/unpack.js';
import { fsx, S_IFBLK, S_IFCHR, S_IFIFO } from '../../util/fsx.js';
import type { Compression } from '../oci/types.js';

const MAX_SYMLINK_HOPS = 40;

export interface UnpackResult {
  /** Digest of the bytes as they came (the blob), with the algorithm asked for. */
  digest: string;
  /** sha256 of the uncompressed tar: the layer's diffID. */
  diffID: string;
  /** Bytes as they came, and uncompressed. */
  size: number;
  unpackedSize: number;
}

export class LayerError extends InvalidInput {}

/** Counts and hashes what flows through. */
class Tap extends Transform {
  bytes = 0;
  constructor(readonly hash: Hash) { super(); }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null, d?: Buffer) => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

function zstdStream(): Transform {
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try { dec.push(chunk); cb(); } catch (e) { cb(new Error(`zstd: ${(e as Error).message}`)); }
    },
    flush(cb) {
      try { dec.push(new Uint8Array(0), true); cb(); } catch (e) { cb(new Error(`zstd: ${(e as Error).message}`)); }
    },
  });
  const dec = new ZstdDecompress((data) => { t.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength)); });
  return t;
}

export function decompressor(c: Compression): Transform | undefined {
  // chunks of 256 KiB, not 16: inflating runs ahead of the writes (the Debian minbase layer here: 1.23 s -> 0.73 s)
  if (c === 'gzip') return createGunzip({ chunkSize: 256 << 10 });
  if (c === 'zstd') return zstdStream();
  return undefined;
}

/**
 * Where `rel` (a path inside the layer root) really is, following symlinks
 * as if `root` were `/`. The last component is followed only when `followLast`.
 */
export function resolveInRoot(root: string, rel: string, followLast: boolean): string {
  const pending = rel.split('/').filter((c) => c && c !== '.');
  const done: string[] = [];
  let hops = 0;
  while (pending.length) {
    const c = pending.shift()!;
    if (c === '..') { done.pop(); continue; } // clamped at the root
    const here = `${root}/${[...done, c].join('/')}`;
    let st: Stats | undefined;
    try { st = lstatSync(here); } catch { st = undefined; }
    if (st?.isSymbolicLink() && (pending.length > 0 || followLast)) {
      if (++hops > MAX_SYMLINK_HOPS) throw new LayerError(rel, 'too many levels of symbolic links');
      const target = readlinkSync(here);
      if (target.startsWith('/')) done.length = 0;
      pending.unshift(...target.split('/').filter((x) => x && x !== '.'));
      continue;
    }
    done.push(c);
  }
  return done.length ? `${root}/${done.join('/')}` : root;
}

/** Removes what is at `p` (a directory too, unless `keepDir`); returns what was there. */
function removeExisting(p: string, keepDir: boolean): Stats | undefined {
  let st: Stats | undefined;
  try { st = lstatSync(p); } catch { return undefined; }
  if (!(keepDir && st.isDirectory())) rmSync(p, { recursive: true, force: true });
  return st;
}

type EntryStream = AsyncIterable<unknown> & { resume(): unknown };

/** A file or device node at `p`, made by `create`; what an earlier entry of the layer left there goes first. */
function createFresh(p: string, create: () => void, replaced: () => void): void {
  try { create(); return; } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; }
  if (removeExisting(p, false)?.isDirectory()) replaced();
  create();
}

/**
 * Writes the tar stream's entries under `dest`, one after the other, with
 * synchronous calls: the decompressor runs ahead on the thread pool, and a
 * file costs one open, its writes, chown, chmod, utimes and close, with no
 * hop to the pool and back for each (which cost more than the calls).
 */
class Extractor extends Writable {
  private parser = tarStream().extract();
  private dirTimes: [string, Date][] = [];
  private failed: Error | undefined;
  /** Entry directory (as named, relative) → where it really is, for parents already checked. */
  private parents = new Map<string, string>();
  private readonly forgetParents = () => { this.parents.clear(); this.parents.set('', this.dest); };

  constructor(private readonly dest: string) {
    super();
    this.parents.set('', dest);
    this.parser.on('entry', (h, stream, next) => {
      this.entry(h, stream).then(() => next(), (e: Error) => { this.failed ??= e; stream.resume(); next(e); });
    });
    // a damaged tar fails in the parser: keep the reason, fail the next write
    this.parser.on('error', (e: Error) => { this.failed ??= e; });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.failed) { cb(this.failed); return; }
    if (this.parser.write(chunk)) { cb(); return; }
    const onDrain = () => { this.parser.off('error', onError); cb(this.failed); };
    const onError = () => { this.parser.off('drain', onDrain); cb(this.failed); };
    this.parser.once('drain', onDrain);
    this.parser.once('error', onError);
  }

  override _final(cb: (e?: Error | null) => void): void {
    if (this.failed) { cb(this.failed); return; }
    this.parser.once('finish', () => {
      if (this.failed) { cb(this.failed); return; }
      // directories last: their children changed their mtimes
      for (const [p, t] of this.dirTimes.reverse()) { try { utimesSync(p, t, t); } catch { /* removed by a later entry */ } }
      cb();
    });
    this.parser.once('error', () => cb(this.failed));
    this.parser.end(undefined as never);
  }

  /** The entry's parent directory, followed inside the root, created if missing. */
  private parentOf(dirRel: string, what: string): string {
    const known = this.parents.get(dirRel);
    if (known) return known;
    const parent = resolveInRoot(this.dest, dirRel, true);
    mkdirSync(parent, { recursive: true });
    if (!lstatSync(parent).isDirectory()) throw new LayerError(what, 'its parent is not a directory');
    this.parents.set(dirRel, parent);
    return parent;
  }

  private async entry(h: tar.Header, stream: EntryStream): Promise<void> {
    if (this.failed) throw this.failed;
    if ((h.type as string) === 'pax-global-header') { stream.resume(); return; }
    const rel = entryPath(h.name);
    const what = `layer entry ${JSON.stringify(h.name)}`;
    const base = posix.basename(rel), dirRel = posix.dirname(rel) === '.' ? '' : posix.dirname(rel);
    if (rel === '') { // the root itself: metadata only
      stream.resume();
      if (h.type === 'directory') this.meta(this.dest, h, true);
      return;
    }
    const parent = this.parentOf(dirRel, what);
    if (base === OPAQUE_MARKER) { stream.resume(); markOpaque(parent); return; }
    if (base.startsWith(WHITEOUT_PREFIX)) {
      stream.resume();
      const target = `${parent}/${base.slice(WHITEOUT_PREFIX.length)}`;
      if (removeExisting(target, false)?.isDirectory()) this.forgetParents(); // those checked under it are gone
      fsx().mknod(target, S_IFCHR | 0o000, 0, 0);
      return;
    }
    if (h.type === 'file' || h.type === 'contiguous-file') { await this.file(parent, base, h, stream); return; }
    stream.resume();
    const p = `${parent}/${base}`;
    const mode = (h.mode ?? 0o644) & 0o7777;
    switch (h.type) {
      case 'directory':
        if (!removeExisting(p, true)?.isDirectory()) mkdirSync(p, { mode: 0o700 });
        this.meta(p, h, true);
        chmodSync(p, mode);
        this.parents.set(rel, p);
        return;
      case 'symlink':
        this.forgetParents(); // a path through this name now leads elsewhere
        createFresh(p, () => symlinkSync(h.linkname ?? '', p), this.forgetParents);
        this.meta(p, h, false, true);
        return;
      case 'link': {
        const targetRel = entryPath(h.linkname ?? '');
        const target = `${resolveInRoot(this.dest, posix.dirname(targetRel) === '.' ? '' : posix.dirname(targetRel), true)}/${posix.basename(targetRel)}`;
        let st: Stats;
        try { st = lstatSync(target); } catch { throw new LayerError(what, `hardlink to ${JSON.stringify(h.linkname)}, which is not in this layer`); }
        if (st.isDirectory()) throw new LayerError(what, `hardlink to a directory ${JSON.stringify(h.linkname)}`);
        createFresh(p, () => linkSync(target, p), this.forgetParents);
        return;
      }
      case 'character-device': case 'block-device': case 'fifo': {
        const kind = h.type === 'fifo' ? S_IFIFO : h.type === 'block-device' ? S_IFBLK : S_IFCHR;
        createFresh(p, () => fsx().mknod(p, kind | mode, h.devmajor ?? 0, h.devminor ?? 0), this.forgetParents);
        this.meta(p, h, false);
        chmodSync(p, mode);
        return;
      }
      default:
        throw new LayerError(what, `unsupported entry type ${JSON.stringify(h.type)}`);
    }
  }

  /** A regular file, written as its data comes; its metadata by its fd. */
  private async file(parent: string, base: string, h: tar.Header, stream: EntryStream): Promise<void> {
    const p = `${parent}/${base}`;
    let fd = -1;
    createFresh(p, () => { fd = openSync(p, 'wx', 0o600); }, this.forgetParents);
    try {
      for await (const chunk of stream) {
        const b = chunk as Buffer;
        for (let off = 0; off < b.length;) off += writeSync(fd, b, off);
      }
      fchownSync(fd, h.uid ?? 0, h.gid ?? 0);
      for (const [name, value] of headerXattrs(h)) fsx().lsetxattr(p, name, value); // after chown, which clears security.capability
      fchmodSync(fd, (h.mode ?? 0o644) & 0o7777); // after chown, which clears setuid/setgid
      if (h.mtime) futimesSync(fd, h.mtime, h.mtime);
    } finally {
      closeSync(fd);
    }
  }

  private meta(p: string, h: tar.Header, dir: boolean, link = false): void {
    (link ? lchownSync : chownSync)(p, h.uid ?? 0, h.gid ?? 0);
    for (const [name, value] of headerXattrs(h)) fsx().lsetxattr(p, name, value);
    if (h.mtime) {
      if (dir) this.dirTimes.push([p, h.mtime]);
      else (link ? lutimesSync : utimesSync)(p, h.mtime, h.mtime);
    }
  }
}

/**
 * Streams `source` (the blob) into `dest` (an empty directory), hashing the
 * blob and the uncompressed tar on the way. `digestAlgorithm` is the blob
 * digest's algorithm (sha256 unless the descriptor says otherwise).
 */
export async function unpackLayer(source: Readable, dest: string, compression: Compression, digestAlgorithm = 'sha256', extra: Writable[] = []): Promise<UnpackResult> {
  const blobTap = new Tap(createHash(digestAlgorithm));
  const tarTap = new Tap(createHash('sha256'));
  const dec = decompressor(compression);
  const stages: (Readable | Transform | Writable)[] = [source, blobTap];
  if (extra.length) stages.push(teeTo(extra));
  if (dec) stages.push(dec);
  stages.push(tarTap, new Extractor(dest));
  await pipeline(stages as unknown as [Readable, ...Transform[], Writable]);
  return {
    digest: `${digestAlgorithm}:${blobTap.hash.digest('hex')}`,
    diffID: `sha256:${tarTap.hash.digest('hex')}`,
    size: blobTap.bytes,
    unpackedSize: tarTap.bytes,
  };
}

/** Passes data on and also writes it to `sinks` (e.g. the content store's file). */
function teeTo(sinks: Writable[]): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      let waiting = 0;
      const done = () => { if (--waiting === 0) cb(null, chunk); };
      waiting = 1;
      for (const s of sinks) if (!s.write(chunk)) { waiting++; s.once('drain', done); }
      done();
    },
    flush(cb) {
      let n = sinks.length;
      if (n === 0) { cb(); return; }
      for (const s of sinks) s.end(() => { if (--n === 0) cb(); });
    },
  });
}
