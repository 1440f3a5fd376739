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
  chmodSync, chownSync, linkSync, lstatSync, mkdirSync, openSync, closeSync, writeSync, readlinkSync,
  rmSync, utimesSync, type Stats,
} from 'node:fs';
import { lchown, lutimes, open, rm, symlink } from 'node:fs/promises';
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
  if (c === 'gzip') return createGunzip();
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

/** Files up to this size are buffered and written concurrently; larger ones stream in order. */
const SMALL_FILE = 1 << 20;
/** Concurrent file creations: creating files is latency-bound (on this VM's ext4, 0.6 ms each). */
const MAX_INFLIGHT = 64;

/**
 * Writes the tar stream's entries under `dest`. Small files, symlinks and their
 * metadata are created concurrently (the parser moves on while they are
 * written); an entry that depends on an earlier one (same path, a hardlink
 * target, a path through a new symlink) waits for it first.
 */
class Extractor extends Writable {
  private parser = tarStream().extract();
  private dirTimes: [string, Date][] = [];
  private failed: Error | undefined;
  /** The last operation on each path (resolved), so a later entry on it waits. */
  private pending = new Map<string, Promise<void>>();
  private inflight = new Set<Promise<void>>();
  /** Entry directory (as named, relative) → where it really is, for parents already checked. */
  private parents = new Map<string, string>();

  /** `overwrite`: files already in `dest` are replaced (docker cp into a container); a layer dir starts empty. */
  constructor(private readonly dest: string, private readonly overwrite = false) {
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
      this.barrier().then(() => {
        if (this.failed) { cb(this.failed); return; }
        // directories last: their children changed their mtimes
        for (const [p, t] of this.dirTimes.reverse()) { try { utimesSync(p, t, t); } catch { /* removed by a later entry */ } }
        cb();
      }, cb);
    });
    this.parser.once('error', () => cb(this.failed));
    this.parser.end(undefined as never);
  }

  private async barrier(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
  }

  private async settle(p: string): Promise<boolean> {
    const prev = this.pending.get(p);
    if (prev) await prev.catch(() => {});
    return prev !== undefined;
  }

  /** Runs `op` on `p` after whatever was already under way there, without waiting for it. */
  private async later(p: string, op: (existed: boolean) => Promise<void>): Promise<void> {
    const prev = this.pending.get(p);
    const run = (async () => {
      if (prev) await prev.catch(() => {});
      await op(prev !== undefined);
    })();
    const tracked = run.catch((e: Error) => { this.failed ??= e; }).finally(() => { this.inflight.delete(tracked); });
    this.inflight.add(tracked);
    this.pending.set(p, run);
    if (this.inflight.size >= MAX_INFLIGHT) await Promise.race(this.inflight);
  }

  private forgetParents(): void {
    this.parents.clear();
    this.parents.set('', this.dest);
  }

  /** The entry's parent directory, followed inside the root, created if missing. */
  private async parentOf(dirRel: string, what: string): Promise<string> {
    const known = this.parents.get(dirRel);
    if (known) return known;
    await this.barrier(); // a symlink on the way may still be in flight
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
      if (h.type === 'directory') this.meta(this.dest, h, true);
      stream.resume();
      return;
    }
    const parent = await this.parentOf(dirRel, what);
    if (base === OPAQUE_MARKER) {
      markOpaque(parent);
      stream.resume();
      return;
    }
    if (base.startsWith(WHITEOUT_PREFIX)) {
      const target = `${parent}/${base.slice(WHITEOUT_PREFIX.length)}`;
      await this.settle(target);
      if (removeExisting(target, false)?.isDirectory()) this.forgetParents(); // those checked under it are gone
      fsx().mknod(target, S_IFCHR | 0o000, 0, 0);
      this.pending.set(target, Promise.resolve());
      stream.resume();
      return;
    }
    const p = `${parent}/${base}`;
    const mode = (h.mode ?? 0o644) & 0o7777;
    const xattrs = headerXattrs(h);
    const uid = h.uid ?? 0, gid = h.gid ?? 0;
    switch (h.type) {
      case 'file': case 'contiguous-file': {
        if ((h.size ?? 0) <= SMALL_FILE) {
          const parts: Buffer[] = [];
          for await (const chunk of stream) parts.push(chunk as Buffer);
          const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
          await this.later(p, async (existed) => {
            if (existed) await rm(p, { recursive: true, force: true });
            else if (this.overwrite) await rm(p, { force: true });
            const fh = await open(p, 'wx', 0o600);
            try {
              await fh.writeFile(data);
              await fh.chown(uid, gid);
              for (const [name, value] of xattrs) fsx().lsetxattr(p, name, value); // after chown, which clears security.capability
              await fh.chmod(mode); // after chown, which clears setuid/setgid
              if (h.mtime) await fh.utimes(h.mtime, h.mtime);
            } finally {
              await fh.close();
            }
          });
          break;
        }
        if ((await this.settle(p)) || this.overwrite) removeExisting(p, false);
        const fd = openSync(p, 'wx', 0o600);
        try {
          for await (const chunk of stream) {
            const b = chunk as Buffer;
            for (let off = 0; off < b.length;) off += writeSync(fd, b, off);
          }
        } finally {
          closeSync(fd);
        }
        this.meta(p, h, false);
        chmodSync(p, mode);
        this.pending.set(p, Promise.resolve());
        break;
      }
      case 'directory': {
        await this.settle(p);
        if (!removeExisting(p, true)?.isDirectory()) mkdirSync(p, { mode: 0o700 });
        this.meta(p, h, true);
        chmodSync(p, mode);
        this.pending.set(p, Promise.resolve());
        this.parents.set(rel, p);
        stream.resume();
        break;
      }
      case 'symlink': {
        stream.resume();
        this.forgetParents(); // a path through this name now leads elsewhere
        const target = h.linkname ?? '';
        await this.later(p, async (existed) => {
          if (existed) await rm(p, { recursive: true, force: true });
          await symlink(target, p);
          await lchown(p, uid, gid);
          for (const [name, value] of xattrs) fsx().lsetxattr(p, name, value);
          if (h.mtime) await lutimes(p, h.mtime, h.mtime);
        });
        break;
      }
      case 'link': {
        stream.resume();
        await this.barrier(); // the target is an earlier entry, perhaps still being written
        const targetRel = entryPath(h.linkname ?? '');
        const target = `${resolveInRoot(this.dest, posix.dirname(targetRel) === '.' ? '' : posix.dirname(targetRel), true)}/${posix.basename(targetRel)}`;
        let st: Stats;
        try { st = lstatSync(target); } catch { throw new LayerError(what, `hardlink to ${JSON.stringify(h.linkname)}, which is not in this layer`); }
        if (st.isDirectory()) throw new LayerError(what, `hardlink to a directory ${JSON.stringify(h.linkname)}`);
        removeExisting(p, false);
        linkSync(target, p);
        this.pending.set(p, Promise.resolve());
        break;
      }
      case 'character-device': case 'block-device': case 'fifo': {
        stream.resume();
        if (await this.settle(p)) removeExisting(p, false);
        const kind = h.type === 'fifo' ? S_IFIFO : h.type === 'block-device' ? S_IFBLK : S_IFCHR;
        fsx().mknod(p, kind | mode, h.devmajor ?? 0, h.devminor ?? 0);
        this.meta(p, h, false);
        chmodSync(p, mode);
        this.pending.set(p, Promise.resolve());
        break;
      }
      default:
        throw new LayerError(what, `unsupported entry type ${JSON.stringify(h.type)}`);
    }
  }

  private meta(p: string, h: tar.Header, dir: boolean): void {
    chownSync(p, h.uid ?? 0, h.gid ?? 0);
    for (const [name, value] of headerXattrs(h)) fsx().lsetxattr(p, name, value);
    if (h.mtime) {
      if (dir) this.dirTimes.push([p, h.mtime]);
      else utimesSync(p, h.mtime, h.mtime);
    }
  }
}

/**
 * Streams `source` (the blob) into `dest` (an empty directory), hashing the
 * blob and the uncompressed tar on the way. `digestAlgorithm` is the blob
 * digest's algorithm (sha256 unless the descriptor says otherwise).
 */
export async function unpackLayer(source: Readable, dest: string, compression: Compression, digestAlgorithm = 'sha256', extra: Writable[] = [], overwrite = false): Promise<UnpackResult> {
  const blobTap = new Tap(createHash(digestAlgorithm));
  const tarTap = new Tap(createHash('sha256'));
  const dec = decompressor(compression);
  const stages: (Readable | Transform | Writable)[] = [source, blobTap];
  if (extra.length) stages.push(teeTo(extra));
  if (dec) stages.push(dec);
  stages.push(tarTap, new Extractor(dest, overwrite));
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
