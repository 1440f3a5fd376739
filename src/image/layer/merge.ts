// The copy driver's merge: layers in overlay format, bottom first, applied to
// one plain directory. A whiteout (0/0 character device) removes what lower
// layers put there; an opaque directory hides its lower contents. Ownership,
// modes, mtimes, xattrs and hardlinks within a layer are kept.
import { chmodSync, copyFileSync, lchownSync, linkSync, lstatSync, mkdirSync, readdirSync, readlinkSync, rmSync, symlinkSync, lutimesSync, constants } from 'node:fs';
import { join } from 'node:path';
import { fsx } from '../../util/fsx.js';
import { contentXattrs, devNumbers, isOpaque, isWhiteout } from './overlay-format.js';

function copyXattrs(from: string, to: string): void {
  for (const [name, value] of contentXattrs(from)) fsx().lsetxattr(to, name, value);
}

function applyDir(src: string, dest: string, links: Map<string, string>): void {
  for (const name of readdirSync(src)) {
    const s = join(src, name), d = join(dest, name);
    const st = lstatSync(s);
    if (isWhiteout(st)) { rmSync(d, { recursive: true, force: true }); continue; }
    let existing: ReturnType<typeof lstatSync> | undefined;
    try { existing = lstatSync(d); } catch { existing = undefined; }
    if (st.isDirectory()) {
      const opaque = isOpaque(s);
      if (existing && (!existing.isDirectory() || opaque)) rmSync(d, { recursive: true, force: true });
      if (!existing || !existing.isDirectory() || opaque) mkdirSync(d);
      applyDir(s, d, links);
    } else {
      if (existing) rmSync(d, { recursive: true, force: true });
      const inode = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? links.get(inode) : undefined;
      if (first) { linkSync(first, d); continue; }
      if (st.isSymbolicLink()) symlinkSync(readlinkSync(s), d);
      else if (st.isFile()) copyFileSync(s, d, constants.COPYFILE_FICLONE);
      else { const { major, minor } = devNumbers(st.rdev); fsx().mknod(d, st.mode, major, minor); }
      if (st.nlink > 1) links.set(inode, d);
    }
    lchownSync(d, st.uid, st.gid);
    if (!st.isSymbolicLink()) chmodSync(d, st.mode & 0o7777);
    copyXattrs(s, d);
    lutimesSync(d, st.atime, st.mtime);
  }
}

export function copyMerged(layersBottomFirst: string[], dest: string): void {
  for (const l of layersBottomFirst) applyDir(l, dest, new Map());
  // directory times after all layers are in: the later writes changed them
  const fix = (s: string, d: string) => {
    for (const name of readdirSync(s)) {
      const st = lstatSync(join(s, name));
      if (!st.isDirectory()) continue;
      let there;
      try { there = lstatSync(join(d, name)); } catch { continue; } // removed by a later layer
      if (!there.isDirectory()) continue;
      fix(join(s, name), join(d, name));
      lutimesSync(join(d, name), st.atime, st.mtime);
    }
  };
  for (const l of layersBottomFirst) fix(l, dest);
}
