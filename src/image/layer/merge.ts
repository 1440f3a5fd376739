// The copy driver's merge: layers in overlay format, bottom first, applied to
// one plain directory. A whiteout (0/0 character device) removes what lower
// layers put there; an opaque directory hides its lower contents. Ownership,
// modes, mtimes, xattrs and hardlinks within a layer are kept.
import { chmodSync, copyFileSync, lchownSync, linkSync, lstatSync, mkdirSync, readdirSync, readlinkSync, rmSync, symlinkSync, lutimesSync, constants } from 'node:fs';
import { join } from 'node:path';
import { fsx } from '../../util/fsx.js';

const OVERLAY_XATTR = /^trusted\.overlay\./;

function copyXattrs(from: string, to: string): void {
  const f = fsx();
  for (const name of f.llistxattr(from)) {
    if (OVERLAY_XATTR.test(name)) continue;
    const v = f.lgetxattr(from, name);
    if (v) f.lsetxattr(to, name, v);
  }
}

function applyDir(src: string, dest: string, links: Map<string, string>): void {
  for (const name of readdirSync(src)) {
    const s = join(src, name), d = join(dest, name);
    const st = lstatSync(s);
    if (st.isCharacterDevice() && st.rdev === 0) { rmSync(d, { recursive: true, force: true }); continue; }
    let existing: ReturnType<typeof lstatSync> | undefined;
    try { existing = lstatSync(d); } catch { existing = undefined; }
    if (st.isDirectory()) {
      const opaque = fsx().lgetxattr(s, 'trusted.overlay.opaque')?.toString() === 'y';
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
      else fsx().mknod(d, st.mode, Math.floor(st.rdev / 256) & 0xfff, (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00));
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
