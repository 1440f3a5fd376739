// A tree berth does not trust, held by file descriptors: a container's root
// (whose processes may rename and swap symlinks while berth works), an upper
// layer, a build context. Paths are resolved once, by openat2 against the
// tree's root fd (RESOLVE_IN_ROOT: symlinks and ".." stay inside), and the
// work goes on from the fds that resolution gave. Children are opened one
// name at a time with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, so a name
// swapped for a symlink is seen as the link and never followed.
import { closeSync, constants as C, fstatSync, openSync, type Stats } from 'node:fs';
import { fsx } from '../../util/fsx.js';
import { InvalidInput, NotFound } from '../../util/check.js';

/** How one name in a directory fd is opened: never through a symlink or a magic link, never above the directory. */
const ONE_NAME = () => fsx().RESOLVE_BENEATH | fsx().RESOLVE_NO_SYMLINKS | fsx().RESOLVE_NO_MAGICLINKS;
const IN_ROOT = () => fsx().RESOLVE_IN_ROOT | fsx().RESOLVE_NO_MAGICLINKS;

const code = (e: unknown) => (e as NodeJS.ErrnoException).code;

/** Closes `fd`, ignoring a failure (it is ours; nothing can be done). */
export function closeFd(fd: number): void {
  try { closeSync(fd); } catch { /* already closed */ }
}

/**
 * openat2, again when the kernel says a rename or mount raced a ".." of the
 * lookup (EAGAIN, which RESOLVE_IN_ROOT and RESOLVE_BENEATH give instead of
 * a possibly wrong answer).
 */
function openat2(dirfd: number, path: string, flags: number, mode: number, resolve: number, missingOk = false): number {
  for (let i = 0; ; i++) {
    try { return fsx().openat2(dirfd, path, flags, mode, resolve, missingOk); } catch (e) {
      if (code(e) !== 'EAGAIN' || i >= 64) throw e;
    }
  }
}

/** A new regular file `name` in `dirfd`, open for writing; whatever was there (of any kind) is removed first. */
export function createChild(dirfd: number, name: string): number {
  const flags = C.O_WRONLY | C.O_CREAT | C.O_EXCL;
  try { return openChildWith(dirfd, name, flags, 0o600); } catch (e) { // a new name is common: it costs no lookup before
    if (code(e) !== 'EEXIST') throw e;
  }
  removeChild(dirfd, name);
  return openChildWith(dirfd, name, flags, 0o600);
}

/** An O_PATH fd of `name` in `dirfd`, the link itself when it is a symlink; undefined when nothing is there. */
export function openChild(dirfd: number, name: string): number | undefined {
  // a missing name is common (an unpack's every new file): no exception is made for it
  const fd = openat2(dirfd, name, fsx().O_PATH | C.O_NOFOLLOW, 0, ONE_NAME(), true);
  return fd < 0 ? undefined : fd;
}

/** `name` in `dirfd` opened with `flags` (O_NOFOLLOW added): a symlink there fails with ELOOP. */
export function openChildWith(dirfd: number, name: string, flags: number, mode = 0): number {
  return openat2(dirfd, name, flags | C.O_NOFOLLOW, mode, ONE_NAME());
}

/** A readable fd of the regular file open (O_PATH) as `fd`: the same inode, reopened through its fd. */
export function reopenForReading(fd: number): number {
  return openSync(`/proc/self/fd/${fd}`, C.O_RDONLY | C.O_NOATIME);
}

/**
 * The root of a tree, open as a directory fd. Every path given to it is
 * a path inside the tree, resolved as if the root were "/".
 */
export class RootDir {
  private constructor(readonly fd: number) {}

  /** Opens the root at `hostPath`, a path berth controls (a mount it made, /proc/PID/root). */
  static open(hostPath: string): RootDir {
    return new RootDir(openSync(hostPath, fsx().O_PATH | C.O_DIRECTORY));
  }

  /** A root already open as `fd` (a directory found inside another root); close() closes it. */
  static fromFd(fd: number): RootDir { return new RootDir(fd); }

  close(): void { closeFd(this.fd); }

  /**
   * An O_PATH fd of `path` inside the tree; the last component is followed
   * (inside the tree) only when `follow`. Throws NotFound when it is missing.
   */
  resolve(path: string, follow: boolean, flags = 0): number {
    try {
      return openat2(this.fd, relative(path), fsx().O_PATH | flags | (follow ? 0 : C.O_NOFOLLOW), 0, IN_ROOT());
    } catch (e) {
      if (['ENOENT', 'ENOTDIR', 'ELOOP', 'EXDEV', 'ENAMETOOLONG'].includes(code(e) ?? '')) throw new NotFound('path', `${path}: ${code(e) === 'ELOOP' ? 'too many levels of symbolic links' : 'no such file or directory'}`);
      throw e;
    }
  }

  /** What is at `path` (the link itself unless `follow`), or undefined. */
  stat(path: string, follow: boolean): { st: Stats; fd: number } | undefined {
    let fd: number;
    try { fd = this.resolve(path, follow); } catch (e) { if (e instanceof NotFound) return undefined; throw e; }
    return { st: fstatSync(fd), fd };
  }

  /**
   * The directory `path` inside the tree, made (with `mode`) where missing:
   * each missing component is made in its parent by fd and resolved from the
   * root again, so a symlink met on the way is followed inside the tree.
   */
  mkdirAll(path: string, mode = 0o755): number {
    const parts = relative(path).split('/').filter((c) => c && c !== '.');
    let fd = this.resolve('/', true, C.O_DIRECTORY);
    for (let i = 0; i < parts.length; i++) {
      const sub = parts.slice(0, i + 1).join('/');
      let next: number;
      try {
        next = openat2(this.fd, sub, fsx().O_PATH | C.O_DIRECTORY, 0, IN_ROOT());
      } catch (e) {
        if (code(e) !== 'ENOENT' || parts[i] === '..') { closeFd(fd); throw asInput(path, e); }
        try { fsx().mkdirat(fd, parts[i]!, mode); } catch (m) { if (code(m) !== 'EEXIST') { closeFd(fd); throw m; } }
        try { next = openat2(this.fd, sub, fsx().O_PATH | C.O_DIRECTORY, 0, IN_ROOT()); } catch (m) { closeFd(fd); throw asInput(path, m); }
      }
      closeFd(fd);
      fd = next;
    }
    return fd;
  }
}

function asInput(path: string, e: unknown): Error {
  if (code(e) === 'ENOTDIR' || code(e) === 'EEXIST') return new InvalidInput('path', `${path}: a component is not a directory`);
  return e as Error;
}

/** `path` relative to a root fd ("" is the root itself). */
function relative(path: string): string {
  const r = path.replace(/^\/+/, '');
  return r === '' ? '.' : r;
}

/** Names sorted by their bytes, as tar and diffs want them. */
export const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** One entry met by walk(): its path relative to the walk's start and an O_PATH fd valid until the walk moves on. */
export interface TreeEntry { rel: string; name: string; st: Stats; fd: number }

/**
 * The entries under the directory open as `dirfd`, in byte order of their
 * names, each directory before its content. `enter` decides whether a
 * directory's content is walked (all by default).
 */
export function* walk(dirfd: number, rel = '', enter: (e: TreeEntry) => boolean = () => true): Generator<TreeEntry> {
  for (const name of fsx().readdirFd(dirfd).sort(byBytes)) {
    const fd = openChild(dirfd, name);
    if (fd === undefined) continue; // gone since the listing
    try {
      const e: TreeEntry = { rel: rel ? `${rel}/${name}` : name, name, st: fstatSync(fd), fd };
      yield e;
      if (e.st.isDirectory() && enter(e)) yield* walk(fd, e.rel, enter);
    } finally {
      closeFd(fd);
    }
  }
}

/** Removes `name` from `dirfd`, a directory with all it holds, by fds. */
export function removeChild(dirfd: number, name: string): void {
  const fd = openChild(dirfd, name);
  if (fd === undefined) return;
  try {
    if (fstatSync(fd).isDirectory()) {
      for (const child of fsx().readdirFd(fd)) removeChild(fd, child);
      fsx().unlinkat(dirfd, name, true);
    } else {
      fsx().unlinkat(dirfd, name, false);
    }
  } catch (e) {
    if (code(e) !== 'ENOENT') throw e;
  } finally {
    closeFd(fd);
  }
}
