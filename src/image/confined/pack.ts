// Tar archives of an untrusted tree, read by fd only (see tree.ts). The tar
// is reproducible: entries in the order given, numeric owners only, no access
// or change times. A file that changes size while it is read is cut or padded
// to the size its header gave, as GNU tar does, so the archive stays whole.
import { fstatSync, readSync, type Stats } from 'node:fs';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type tar from 'tar-stream';
import { tarHeaders, tarStream } from '../layer/tar-pax.js';
import { fsx } from '../../util/fsx.js';
import { devNumbers, withoutOverlayMarks } from '../layer/overlay-format.js';
import { closeFd, reopenForReading, walk, type RootDir } from './tree.js';

const EPOCH = new Date(0);
const CHUNK = 1 << 20;

/** One tar entry: a file, directory, link or node open as `fd`; or an empty marker file (a layer's whiteout). */
export type TarItem = { kind: 'entry'; rel: string; st: Stats; fd: number } | { kind: 'marker'; rel: string };

/** The extended attributes of the file open as `fd`, without overlay's own marks (none for a symlink). */
export function xattrsOf(fd: number, st: Stats): [string, Buffer][] {
  if (st.isSymbolicLink()) return [];
  return withoutOverlayMarks(fsx().xattrsFd(fd));
}

function paxOf(fd: number, st: Stats): Record<string, string> | undefined {
  const x = xattrsOf(fd, st);
  return x.length ? Object.fromEntries(x.map(([name, v]) => [`SCHILY.xattr.${name}`, v.toString('latin1')])) : undefined;
}

/** `size` bytes of the regular file open (O_PATH) as `fd`, in chunks; zeros where it has become shorter. */
/** A file's bytes, read by fd in chunks. */
export async function* fileBytes(fd: number, size: number): AsyncGenerator<Buffer> {
  const rfd = reopenForReading(fd);
  try {
    for (let off = 0; off < size;) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, size - off));
      let got = 0;
      while (got < buf.length) {
        const n = readSync(rfd, buf, got, buf.length - got, off + got);
        if (n === 0) { buf.fill(0, got); break; } // shorter now: zeros for the rest
        got += n;
      }
      off += buf.length;
      yield buf;
    }
  } finally {
    closeFd(rfd);
  }
}

export type ItemHeader = Partial<tar.Header> & { name: string };

/**
 * An item's tar header, and a regular file's fd and size (its bytes). A file
 * met again under another name (`links`: inode to first name, one map per
 * archive) is a hardlink to the first. Undefined for a socket, which
 * archives do not carry.
 */
export function itemHeader(item: TarItem, links: Map<string, string>): { h: ItemHeader; file?: { fd: number; size: number } } | undefined {
  if (item.kind === 'marker') return { h: { name: item.rel, mode: 0o600, mtime: EPOCH, type: 'file', size: 0 } }; // docker writes whiteouts 0600
  const { rel, st, fd } = item;
  const h = {
    name: rel, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: new Date(Math.floor(st.mtimeMs / 1000) * 1000),
    uname: '', gname: '', linkname: '', devmajor: 0, devminor: 0, pax: paxOf(fd, st),
  };
  if (st.isDirectory()) return { h: { ...h, name: rel.endsWith('/') ? rel : `${rel}/`, type: 'directory' } };
  const inode = `${st.dev}:${st.ino}`;
  const first = st.nlink > 1 ? links.get(inode) : undefined;
  if (first) return { h: { ...h, type: 'link', linkname: first, size: 0 } };
  if (st.nlink > 1) links.set(inode, rel);
  if (st.isFile()) return { h: { ...h, type: 'file', size: st.size }, file: { fd, size: st.size } };
  if (st.isSymbolicLink()) return { h: { ...h, type: 'symlink', linkname: fsx().readlinkat(fd, '') } };
  if (st.isFIFO()) return { h: { ...h, type: 'fifo' } };
  if (st.isCharacterDevice() || st.isBlockDevice()) {
    const { major, minor } = devNumbers(st.rdev);
    return { h: { ...h, type: st.isCharacterDevice() ? 'character-device' : 'block-device', devmajor: major, devminor: minor } };
  }
  return undefined;
}

/**
 * Writes `items` as a tar to `out` (whoever keeps it digests it: the
 * content store does). With `end: false`, `out` stays open: a caller that
 * must clean up first (unmount what it lent the walk) ends it after.
 */
export async function writeTar(items: Iterable<TarItem>, out: Writable, end = true): Promise<void> {
  const pack = tarStream().pack();
  // tar-stream's pack (a streamx stream) ends what it is piped to whatever pipeline says: a Node stream between keeps `out` open
  const done = pipeline(end ? pack as unknown as Readable : Readable.from(pack as unknown as AsyncIterable<Buffer>), out, { end });
  // a reader gone early ends the pipeline: every write waiting on it fails then
  const broken = new Promise<never>((_res, rej) => { done.catch(rej); });
  broken.catch(() => {});
  const put = async (h: ItemHeader, body?: AsyncIterable<Buffer>) => {
    if (!body) { await Promise.race([broken, new Promise<void>((res, rej) => pack.entry(h as tar.Header, Buffer.alloc(0), (e) => (e ? rej(e) : res())))]); return; }
    let failed: Error | undefined;
    const ended = new Promise<void>((res, rej) => {
      const sink = pack.entry(h as tar.Header, (e) => (e ? rej(e) : res())) as unknown as Writable;
      sink.on('error', rej); // the pack destroyed under it (a reader gone)
      void (async () => {
        try {
          for await (const b of body) if (!sink.write(b)) await Promise.race([broken, new Promise((r) => sink.once('drain', r))]);
          sink.end();
        } catch (e) { failed = e as Error; sink.destroy(failed); }
      })();
    });
    await Promise.race([broken, ended]);
    if (failed) throw failed;
  };
  const links = new Map<string, string>();
  try {
    for (const item of items) {
      const e = itemHeader(item, links);
      if (e) await put(e.h, e.file?.size ? fileBytes(e.file.fd, e.file.size) : undefined);
    }
    pack.finalize();
  } catch (e) {
    pack.destroy(e as Error);
    await done.catch(() => {});
    throw e;
  }
  await done;
}

const ZEROS = Buffer.alloc(1024);

/**
 * writeTar's bytes, made without streams: each entry as tar-stream's pack
 * encodes it (its defaults, ustar or a pax header, padding, the two zero
 * blocks at the end), handed to `sink` a buffer of up to 1 MiB at a time,
 * which `sink` must consume before it returns (the buffer is used again).
 * A file's bytes are read straight into that buffer.
 */
export function writeTarSync(items: Iterable<TarItem>, sink: (chunk: Buffer) => void): void {
  const codec = tarHeaders();
  const buf = Buffer.allocUnsafe(CHUNK);
  let used = 0;
  const flush = () => { if (used) sink(buf.subarray(0, used)); used = 0; };
  const push = (b: Buffer) => { if (used + b.length > buf.length) flush(); b.copy(buf, used); used += b.length; };
  const pad = (size: number) => { if (size & 511) push(ZEROS.subarray(0, 512 - (size & 511))); };
  const links = new Map<string, string>();
  for (const item of items) {
    const e = itemHeader(item, links);
    if (!e) continue;
    const h: Record<string, unknown> = { ...e.h }; // pack.entry's defaults
    if (!h.size || h.type === 'symlink') h.size = 0;
    if (!h.mode) h.mode = h.type === 'directory' ? 0o755 : 0o644;
    h.uid ||= 0;
    h.gid ||= 0;
    const plain = h.pax ? null : codec.encode(h);
    if (plain) push(plain);
    else { // pack._encodePax
      const pax = codec.encodePax({ name: h.name as string, linkname: h.linkname as string, pax: h.pax as Record<string, string> });
      const ph = { ...h, name: 'PaxHeader', size: pax.length, type: 'pax-header', linkname: h.linkname && 'PaxHeader', pax: undefined };
      push(codec.encode(ph)!);
      for (let off = 0; off < pax.length; off += CHUNK) push(pax.subarray(off, off + CHUNK));
      pad(pax.length);
      push(codec.encode({ ...ph, size: h.size, type: h.type })!);
    }
    const size = h.size as number;
    if (!e.file || !size) continue;
    const rfd = reopenForReading(e.file.fd);
    try {
      for (let off = 0; off < size;) {
        if (used === buf.length) flush();
        const n = readSync(rfd, buf, used, Math.min(buf.length - used, size - off), off);
        if (n <= 0) { for (; off < size; off += Math.min(ZEROS.length, size - off)) push(ZEROS.subarray(0, Math.min(ZEROS.length, size - off))); break; } // shorter now: zeros
        used += n;
        off += n;
      }
    } finally { closeFd(rfd); }
    pad(size);
  }
  push(ZEROS);
  flush();
}

/** The entry open as `fd` under the name `name`, and, for a directory, everything under it. */
export function* subtree(fd: number, st: Stats, name: string): Generator<TarItem> {
  yield { kind: 'entry', rel: name, st, fd };
  if (!st.isDirectory()) return;
  for (const e of walk(fd)) yield { kind: 'entry', rel: `${name}/${e.rel}`, st: e.st, fd: e.fd };
}

/**
 * A tar of `path` inside `root`, as docker's archive API gives it: the
 * entry under its own name ("DIR/." gives the directory's content, named
 * "."). A symlink is archived as itself unless the path ends in "/" or "/.".
 */
export async function packPath(root: RootDir, path: string, out: Writable, name: string, end = true): Promise<void> {
  const follow = path.endsWith('/') || path.endsWith('/.');
  const fd = root.resolve(path, follow);
  try {
    await packFd(fd, fstatSync(fd), out, name, end);
  } finally {
    closeFd(fd);
  }
}

/** A tar of what is open as `fd` (found already, its `st` shown to the client), named `name`, and all under it; `out` is ended unless `end` is false. */
export async function packFd(fd: number, st: Stats, out: Writable, name: string, end = true): Promise<void> {
  await writeTar(subtree(fd, st, name), out, end);
}
