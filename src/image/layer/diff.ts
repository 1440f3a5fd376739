// A container's changes as a layer tar: its overlay upper directory, with
// overlay's whiteouts (0/0 character devices) written as `.wh.NAME` and
// opaque directories as `.wh..wh..opq`. The tar is reproducible: entries in
// byte order of their names, no user or group names, no access or change
// times, so the same tree gives the same digest.
import { lstatSync, readdirSync, readlinkSync, createReadStream, type Stats } from 'node:fs';
import { createHash } from 'node:crypto';
import { Transform, type Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { fsx } from '../../util/fsx.js';
import { patchPax } from './tar-pax.js';
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from './unpack.js';

patchPax();

const SKIP_XATTR = /^trusted\.overlay\./;
const EPOCH = new Date(0);

function xattrs(p: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const name of fsx().llistxattr(p)) {
    if (SKIP_XATTR.test(name)) continue;
    const v = fsx().lgetxattr(p, name);
    if (v) out[`SCHILY.xattr.${name}`] = v.toString('latin1');
  }
  return Object.keys(out).length ? out : undefined;
}

function header(name: string, st: Stats): Partial<tar.Header> & { name: string } {
  return {
    name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: new Date(Math.floor(st.mtimeMs / 1000) * 1000),
    uname: '', gname: '', linkname: '', devmajor: 0, devminor: 0,
  };
}

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

export interface DiffResult { diffID: string; size: number }

/** Writes the upper directory `upper` to `out` as a layer tar; returns its diffID. */
export async function diffLayer(upper: string, out: Writable): Promise<DiffResult> {
  const pack = tar.pack();
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

  const walk = async (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort(byBytes)) {
      const p = `${dir}/${name}`, r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      if (st.isCharacterDevice() && st.rdev === 0) {
        await put({ name: rel ? `${rel}/${WHITEOUT_PREFIX}${name}` : `${WHITEOUT_PREFIX}${name}`, mode: 0, mtime: EPOCH, type: 'file', size: 0 });
        continue;
      }
      const h = { ...header(r, st), pax: xattrs(p) };
      if (st.isDirectory()) {
        await put({ ...h, name: `${r}/`, type: 'directory' });
        if (fsx().lgetxattr(p, 'trusted.overlay.opaque')?.toString() === 'y') await put({ name: `${r}/${OPAQUE_MARKER}`, mode: 0, mtime: EPOCH, type: 'file', size: 0 });
        await walk(p, r);
        continue;
      }
      const inode = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? links.get(inode) : undefined;
      if (first) { await put({ ...h, type: 'link', linkname: first, size: 0 }); continue; }
      if (st.nlink > 1) links.set(inode, r);
      if (st.isFile()) await put({ ...h, type: 'file', size: st.size }, st.size ? createReadStream(p) : undefined);
      else if (st.isSymbolicLink()) await put({ ...h, type: 'symlink', linkname: readlinkSync(p) });
      else if (st.isFIFO()) await put({ ...h, type: 'fifo' });
      else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const major = Math.floor(st.rdev / 256) & 0xfff, minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
        await put({ ...h, type: st.isCharacterDevice() ? 'character-device' : 'block-device', devmajor: major, devminor: minor });
      }
      // sockets are not carried in layers
    }
  };
  await walk(upper, '');
  pack.finalize();
  await done;
  return { diffID: `sha256:${hash.digest('hex')}`, size };
}
