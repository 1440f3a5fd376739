// Work inside trees berth does not trust (a container's root, an upper
// layer, a build context), by file descriptor only: paths resolve inside
// the tree's root with openat2, and nothing is reached again by a path
// string. cp, the archive API, export, diff, commit and volume copy-up all
// go through here.
import { fstatSync } from 'node:fs';
import { subtree } from './pack.js';
import { copyInto } from './unpack.js';
import { RootDir } from './tree.js';

export { RootDir, walk, closeFd, openChild, removeChild, byBytes, type TreeEntry } from './tree.js';
export { packPath, packFd, writeTar, writeTarSync, xattrsOf, fileBytes as fileChunks, type TarItem } from './pack.js';
export { copyInto, unpackInto, syncInto, contentHashes, rememberHash, statKey, entryPath, headerXattrs, ArchiveError } from './unpack.js';

/** Runs `fn` with `hostPath` open as a RootDir, closed after. */
export async function withRootDir<T>(hostPath: string, fn: (root: RootDir) => Promise<T> | T): Promise<T> {
  const root = RootDir.open(hostPath);
  try { return await fn(root); } finally { root.close(); }
}

/** Copies the content of the directory open as `from` into the directory `to` (its root), keeping owners, modes, links and xattrs. */
export function copyTree(from: number, to: RootDir): Promise<void> {
  return copyInto(to, subtree(from, fstatSync(from), '.'));
}
