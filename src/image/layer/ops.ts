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

export interface OpMeta {
  uid?: number; gid?: number;
  /** Permission bits to set last (after chown, which clears setuid). */
  mode?: number;
  mtime?: Date;
  xattrs?: [string, Buffer][];
}

export interface OpFields extends OpMeta {
  /** symlink: the target; link: the target's parent. */
  extra?: string;
  /** link: the target's name. */
  extra2?: string;
  /** mknod: the file type and permission bits of mknod(2). */
  nodeMode?: number;
  major?: number; minor?: number;
  /** file: how many bytes of the data buffers are its content. */
  size?: number;
  /** unlink: the entry is a directory. */
  dir?: boolean;
}

/** Thrown for a failed op: what it was for, the call and the errno. */
export interface OpFailure extends Error { opIndex: number; syscall: string; errno: number }

export class OpList {
  private buf = Buffer.allocUnsafe(64 << 10);
  private pos = 0;
  /** Files' contents, in the order of their ops. */
  readonly data: Buffer[] = [];
  dataBytes = 0;
  /** What each op is for, to name it when it fails. */
  readonly labels: string[] = [];

  get length(): number { return this.labels.length; }

  add(code: number, parent: string, name: string, label: string, f: OpFields = {}): void {
    const strings = [parent, name, f.extra ?? '', f.extra2 ?? ''];
    const xattrs = f.xattrs ?? [];
    let room = HEAD;
    for (const s of strings) room += s.length * 3;
    for (const [k, v] of xattrs) room += 6 + k.length * 3 + v.length;
    this.reserve(room);
    const b = this.buf, at = this.pos;
    let p = at + HEAD;
    const lens = strings.map((s) => { const n = b.write(s, p); p += n; return n; });
    for (const [k, v] of xattrs) {
      const kn = b.write(k, p + 6);
      b.writeUInt16LE(kn, p); b.writeUInt32LE(v.length, p + 2);
      p += 6 + kn;
      p += v.copy(b, p);
    }
    const flags = (f.uid !== undefined ? F_OWNER : 0) | (f.mode !== undefined ? F_MODE : 0) | (f.mtime ? F_MTIME : 0) | (f.dir ? F_DIR : 0);
    b[at] = code; b[at + 1] = flags;
    for (let i = 0; i < 4; i++) {
      if (lens[i]! > 0xffff) throw new Error(`${label}: name is too long`);
      b.writeUInt16LE(lens[i]!, at + 2 + 2 * i);
    }
    b.writeUInt16LE(xattrs.length, at + 10);
    b.writeUInt32LE((code === OpCode.mknod ? f.nodeMode : f.mode) ?? 0, at + 12);
    b.writeUInt32LE(f.uid ?? 0, at + 16); b.writeUInt32LE(f.gid ?? 0, at + 20);
    b.writeUInt32LE(f.major ?? 0, at + 24); b.writeUInt32LE(f.minor ?? 0, at + 28);
    b.writeDoubleLE(f.mtime?.getTime() ?? 0, at + 32); b.writeDoubleLE(f.size ?? 0, at + 40);
    this.pos = p;
    this.labels.push(label);
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
  }
}
