// The native file operations Node lacks (native/fsx): mknod, xattrs, flock,
// mount, fd passing, spawning; removeEntries, which the crash clean-ups
// share, and discard, which takes removals off the request path.
import { createRequire } from 'node:module';
import { closeSync, constants as fsConstants, existsSync, openSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { nativeBuild } from './project.js';

export interface Fsx {
  mknod(path: string, mode: number, major: number, minor: number): void;
  lsetxattr(path: string, name: string, value: Buffer): void;
  lgetxattr(path: string, name: string): Buffer | null;
  llistxattr(path: string): string[];
  /** Every thread of this process to SCHED_IDLE (true), or back to SCHED_OTHER at nice 0. */
  schedIdle(idle: boolean): void;
  /** flock(LOCK_EX|LOCK_NB): true when taken. */
  tryLock(fd: number): boolean;
  /** Carries out a list of file ops (src/image/layer/ops.ts's layout) under `rootFd`, on the thread pool; rejects with the failed op's opIndex, syscall and errno. */
  applyOps(rootFd: number, ops: Buffer, data: Buffer[]): Promise<void>;
  /**
   * A gzip stream inflated on a thread of its own (native/fsx/gunzip.c).
   * `output` gets each block (or null), how many written chunks the thread
   * is done with, and at the last call the sha256 (hex) of all the output or
   * an error's words ("gzip: ...").
   */
  gunzipStart(output: (block: Buffer | null, done: number, last: boolean, text: string) => void): object;
  /** Queues `chunk`; it must stay unchanged until `output` counts it done. */
  gunzipWrite(handle: object, chunk: Buffer): void;
  /** 0: the input has ended; 1: the reader took `n` blocks; 2: stop (the stream is dropped). */
  gunzipControl(handle: object, what: number, n: number): void;
  /** syncfs(2) of the filesystem `fd` is on, on the thread pool: 0, or the errno. */
  syncfs(fd: number): Promise<number>;
  mount(source: string, target: string, fstype: string, flags: number, data: string): void;
  umount(target: string, detach?: boolean): void;
  /** Whether `path` is the root of a mount; null when the kernel cannot say (before 5.8). */
  isMountPoint(path: string): boolean | null;
  /** Sends `text` on unix socket `sock` with `fds` (1-4) attached (SCM_RIGHTS), in one message. */
  sendFds(sock: number, fds: number[], text: string): void;
  /**
   * Close-on-exec copies of the file descriptors `nums` of the process at the
   * other end of unix socket `sock` (pidfd_getfd). Throws when that process
   * is not `pid`, or they cannot be taken.
   */
  peerFds(sock: number, pid: number, nums: number[]): number[];
  /** The pid and uid of the process at the other end of unix socket `sock` (SO_PEERCRED). */
  peerCred(sock: number): { pid: number; uid: number };
  /** dup2: `to` becomes an inheritable copy of `from`. */
  dup2(from: number, to: number): void;
  /** pipe2(O_CLOEXEC): [read, write]. */
  pipe(): [number, number];
  /** posix_spawn in a new session, fds[i] as the child's fd i (-1: /dev/null); the pid. The caller reaps it. */
  spawn(path: string, argv: string[], fds: number[]): number;
  /** Carries out a network plan (src/network/links.ts's text) over rtnetlink; throws the failing op's words. */
  netPlan(text: string): void;
  /** A non-blocking IPv4 socket bound to ip:port (listening, for TCP) in the network namespace at nsPath: its fd (close-on-exec). */
  netSocket(nsPath: string, tcp: boolean, ip: string, port: number): number;
  /** The network fast path (native/net/bpf.c): 'map' name -> fd, 'load' name insns -> fd, 'set' fd key ifindex, 'del' fd key, 'attach' dev progFd name -> ifindex. */
  netBpf(op: 'map', name: string): number;
  netBpf(op: 'load', name: string, insns: Buffer): number;
  netBpf(op: 'set', map: number, key: Buffer, ifindex: number): number;
  netBpf(op: 'del', map: number, key: Buffer): number;
  netBpf(op: 'attach', dev: string, prog: number, name: string): number;
  /** A close-on-exec memfd holding a sealed (unchangeable) copy of the file at `path`: its fd. */
  sealedCopy(path: string): number;
  /** A close-on-exec unix socket bound at `path` and listening: its fd. */
  listenUnix(path: string): number;
  /** waitpid(WNOHANG): true once the child has ended. */
  reap(pid: number): boolean;

  // The *at calls (native/fsx/at.c): `name` is one name in the directory `dirfd`.
  /** openat2(2) with the resolve flags given: a close-on-exec fd; with missingOk, -1 instead of an ENOENT error. */
  openat2(dirfd: number, path: string, flags: number, mode: number, resolve: number, missingOk?: boolean): number;
  mkdirat(dirfd: number, name: string, mode: number): void;
  symlinkat(target: string, dirfd: number, name: string): void;
  /** A new name `name` in `dirfd` for the file open as `fd`. */
  linkat(fd: number, dirfd: number, name: string): void;
  mknodat(dirfd: number, name: string, mode: number, major: number, minor: number): void;
  unlinkat(dirfd: number, name: string, dir: boolean): void;
  readlinkat(dirfd: number, name: string): string;
  /** `length` bytes from `inFd`'s start to `outFd`'s, in the kernel (copy_file_range); returns the bytes copied, fewer when `inFd` is shorter now. */
  copyFileRange(inFd: number, outFd: number, length: number): number;
  /** Never through a final symlink; name "" is `dirfd` itself. */
  fchownat(dirfd: number, name: string, uid: number, gid: number): void;
  /** atime and mtime (seconds), never through a final symlink. */
  utimensat(dirfd: number, name: string, seconds: number): void;
  /** chmod of the file open as `fd` (O_PATH too). */
  chmodFd(fd: number, mode: number): void;
  readdirFd(fd: number): string[];
  xattrsFd(fd: number): [string, Buffer][];
  setxattrFd(fd: number, name: string, value: Buffer): void;
  readonly O_PATH: number;
  readonly RESOLVE_IN_ROOT: number;
  readonly RESOLVE_BENEATH: number;
  readonly RESOLVE_NO_SYMLINKS: number;
  readonly RESOLVE_NO_MAGICLINKS: number;
  readonly RESOLVE_NO_XDEV: number;
}

export const MS_RDONLY = 1, MS_REMOUNT = 32, MS_BIND = 4096, MS_REC = 16384;

let loaded: Fsx | undefined;
export function fsx(): Fsx {
  if (loaded) return loaded;
  const p = nativeBuild('berth_fsx.node');
  if (!existsSync(p)) throw new Error(`native module not built: ${p} is missing (run npm install)`);
  return (loaded = createRequire(import.meta.url)(p) as Fsx);
}

/** The file descriptor under a net.Socket (a unix socket's), for the calls above. */
export function fdOf(s: unknown): number | undefined {
  const fd = (s as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

export const S_IFCHR = 0o020000, S_IFBLK = 0o060000, S_IFIFO = 0o010000;

/** Removes what `dir` holds (all of it, or the entries `drop` picks), keeping `dir` itself. */
export function removeEntries(dir: string, drop: (name: string) => boolean = () => true): void {
  for (const e of readdirSync(dir)) if (drop(e)) rmSync(join(dir, e), { recursive: true, force: true });
}

let discarded = 0;
/**
 * Removes `path` from view at once, by a rename into `trash` (a directory on
 * the same filesystem), and deletes it in the background. The caller's
 * start clears `trash` (removeEntries), so a crash leaves nothing behind.
 */
export function discard(path: string, trash: string): void {
  const to = join(trash, `${basename(path)}.${process.pid}.${++discarded}`);
  try { renameSync(path, to); } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') rmSync(path, { recursive: true, force: true });
    return;
  }
  rm(to, { recursive: true, force: true }).catch(() => { /* the next start clears it */ });
}

/**
 * Puts everything written to the filesystem that holds `dir` on disk: one
 * syncfs(2) instead of an fsync for each of a layer's thousands of files.
 * On the thread pool: the event loop goes on meanwhile.
 */
export async function syncFilesystem(dir: string): Promise<void> {
  const fd = openSync(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  try { await syncFilesystemOf(fd, dir); } finally { closeSync(fd); }
}

/** syncfs(2) of the filesystem that holds the open `fd` (`what` names it in the error). */
export async function syncFilesystemOf(fd: number, what: string): Promise<void> {
  const err = await fsx().syncfs(fd);
  if (err) throw Object.assign(new Error(`syncfs of ${what}: ${Object.entries(osConstants.errno).find(([, n]) => n === err)?.[0] ?? `errno ${err}`}`), { errno: err });
}
