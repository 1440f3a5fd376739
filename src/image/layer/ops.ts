// A list of file operations for native/fsx/ops.c to carry out on the thread
// pool: the unpacker decides every name, mode and owner; the list is data,
// and the C side only walks it. Each op addresses one entry as (parent, name):
// parent a path relative to the root that crosses no symlink, "" the root
// itself; name "" is the parent directory itself.
//
// Layout of one op (little-endian): u8 code, u8 flags, u16 lengths of parent,
// name, extra and extra2, u16 xattr count, u32 mode, uid, gid, major, minor,
// f64 mtime (ms), f64 size; then the four strings (UTF-8, no NUL), then each
// xattr as u16 name length, u32 value length, name, value. A file's bytes are
// not in the op: they follow, in order, in the data buffers.
import { fsx } from '../../util/fsx.js';

export const OpCode = { mkdir: 1, file: 2, symlink: 3, link: 4, mknod: 5, attr: 6, utimes: 7, unlink: 8 } as const;
const F_OWNER = 1, F_MODE = 2, F_MTIME = 4, F_DIR = 8;
const HEAD = 48;

/**
 * What an op sets on the entry it makes or names, in the order ops.c sets
 * it: owner, xattrs (after chown, which clears security.capability), mode
 * (after chown, which clears setuid), mtime. Always made by opMeta, so that
 * every one has the same shape and the list's hot loop stays monomorphic.
 */
export interface OpMeta { uid: number; gid: number; mode: number; mtime: Date | undefined; xattrs: [string, Buffer][] }

/** -1: leave the owner or the mode as they are. */
export const opMeta = (uid: number, gid: number, mode: number, mtime: Date | undefined, xattrs: [string, Buffer][]): OpMeta => ({ uid, gid, mode, mtime, xattrs });
export const NO_META = opMeta(-1, -1, -1, undefined, []);

/** An op's own fields beside its meta: a file's size; a symlink's target (extra); a link's target parent and name; mknod's type and numbers; unlink of a directory. */
export interface OpExtra { size: number; extra: string; extra2: string; nodeMode: number; major: number; minor: number; dir: boolean }
export const opExtra = (size: number, extra: string, extra2: string, nodeMode: number, major: number, minor: number, dir: boolean): OpExtra =>
  ({ size, extra, extra2, nodeMode, major, minor, dir });
export const NO_EXTRA = opExtra(0, '', '', 0, 0, 0, false);

/** Thrown for a failed op: what it was for, the call and the errno. */
export interface OpFailure extends Error { opIndex: number; syscall: string; errno: number }

const xattrRoom = (xattrs: [string, Buffer][]): number => xattrs.reduce((n, [k, val]) => n + 6 + k.length * 3 + val.length, 0);

export class OpList {
  private buf = Buffer.allocUnsafe(64 << 10);
  private view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  private pos = 0;
  /** Files' contents, in the order of their ops. */
  readonly data: Buffer[] = [];
  dataBytes = 0;
  /** What each op is for, to name it when it fails. */
  readonly labels: string[] = [];

  get length(): number { return this.labels.length; }

  add(code: number, parent: string, name: string, label: string, m: OpMeta = NO_META, x: OpExtra = NO_EXTRA): void {
    const { extra, extra2 } = x;
    const chars = parent.length + name.length + extra.length + extra2.length;
    this.reserve(HEAD + 3 * chars + (m.xattrs.length ? xattrRoom(m.xattrs) : 0));
    const at = this.pos, v = this.view;
    // the four strings in one write; only a name with non-ASCII in it needs
    // each one's length in bytes. Each Buffer write inlines into this hot
    // function, which V8 then takes long to optimize: the fewer, the better.
    const bytes = this.buf.write(parent + name + extra + extra2, at + HEAD);
    if (bytes === chars && chars <= 0xffff) {
      v.setUint16(at + 2, parent.length, true);
      v.setUint16(at + 4, name.length, true);
      v.setUint16(at + 6, extra.length, true);
      v.setUint16(at + 8, extra2.length, true);
    } else this.byteLengths(at, [parent, name, extra, extra2], label);
    this.pos = at + HEAD + bytes;
    if (m.xattrs.length) this.putXattrs(m.xattrs);
    v.setUint8(at, code);
    v.setUint8(at + 1, (m.uid >= 0 ? F_OWNER : 0) | (m.mode >= 0 ? F_MODE : 0) | (m.mtime ? F_MTIME : 0) | (x.dir ? F_DIR : 0));
    v.setUint16(at + 10, m.xattrs.length, true);
    v.setUint32(at + 12, code === OpCode.mknod ? x.nodeMode : Math.max(m.mode, 0), true);
    v.setUint32(at + 16, Math.max(m.uid, 0), true);
    v.setUint32(at + 20, Math.max(m.gid, 0), true);
    v.setUint32(at + 24, x.major, true);
    v.setUint32(at + 28, x.minor, true);
    v.setFloat64(at + 32, m.mtime ? m.mtime.getTime() : 0, true);
    v.setFloat64(at + 40, x.size, true);
    this.labels.push(label);
  }

  /** The strings' lengths in bytes, for an op whose strings are not all ASCII. */
  private byteLengths(at: number, strings: string[], label: string): void {
    strings.forEach((s, i) => {
      const n = Buffer.byteLength(s);
      if (n > 0xffff) throw new Error(`${label}: name is too long`);
      this.view.setUint16(at + 2 + 2 * i, n, true);
    });
  }

  /** An op's xattrs, after its strings. */
  private putXattrs(xattrs: [string, Buffer][]): void {
    for (const [k, val] of xattrs) {
      const kn = this.buf.write(k, this.pos + 6);
      this.view.setUint16(this.pos, kn, true);
      this.view.setUint32(this.pos + 2, val.length, true);
      this.pos += 6 + kn;
      this.pos += val.copy(this.buf, this.pos);
    }
  }

  /** Content for the last file op, as it arrives. */
  addData(chunk: Buffer): void {
    this.data.push(chunk);
    this.dataBytes += chunk.length;
  }

  /** Carries the list out under the directory open as `rootFd`, on the thread pool. */
  run(rootFd: number): Promise<void> {
    return fsx().applyOps(rootFd, this.buf.subarray(0, this.pos), this.data);
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
    this.view = new DataView(bigger.buffer, bigger.byteOffset, bigger.length);
  }
}
