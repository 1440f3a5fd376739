// Tar archives of an untrusted tree, read by fd only (see tree.ts). The tar
// is reproducible: entries in the order given, numeric owners only, no access
// or change times. A file that changes size while it is read is cut or padded
// to the size its header gave, as GNU tar does, so the archive stays whole.
import { fstatSync, readSync, type Stats } from 'node:fs';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type tar from 'tar-stream';
import { tarStream } from '../layer/tar-pax.js';
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
  const put = async (h: Partial<tar.Header> & { name: string }, body?: AsyncIterable<Buffer>) => {
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
  const links = new Map<string, string>(); // inode → first name, for hardlinks within the archive
  try {
    for (const item of items) {
      if (item.kind === 'marker') { await put({ name: item.rel, mode: 0o600, mtime: EPOCH, type: 'file', size: 0 }); continue; } // docker writes whiteouts 0600
      const { rel, st, fd } = item;
      const h = {
        name: rel, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: new Date(Math.floor(st.mtimeMs / 1000) * 1000),
        uname: '', gname: '', linkname: '', devmajor: 0, devminor: 0, pax: paxOf(fd, st),
      };
      if (st.isDirectory()) { await put({ ...h, name: rel.endsWith('/') ? rel : `${rel}/`, type: 'directory' }); continue; }
      const inode = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? links.get(inode) : undefined;
      if (first) { await put({ ...h, type: 'link', linkname: first, size: 0 }); continue; }
      if (st.nlink > 1) links.set(inode, rel);
      if (st.isFile()) await put({ ...h, type: 'file', size: st.size }, st.size ? fileBytes(fd, st.size) : undefined);
      else if (st.isSymbolicLink()) await put({ ...h, type: 'symlink', linkname: fsx().readlinkat(fd, '') });
      else if (st.isFIFO()) await put({ ...h, type: 'fifo' });
      else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const { major, minor } = devNumbers(st.rdev);
        await put({ ...h, type: st.isCharacterDevice() ? 'character-device' : 'block-device', devmajor: major, devminor: minor });
      }
      // sockets are not carried in archives
    }
    pack.finalize();
  } catch (e) {
    pack.destroy(e as Error);
    await done.catch(() => {});
    throw e;
  }
  await done;
}

/** The entry open as `fd` under the name `name`, and, for a directory, everything under it. */
function* subtree(fd: number, st: Stats, name: string): Generator<TarItem> {
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
