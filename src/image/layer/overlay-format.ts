// How a layer directory marks what overlayfs needs: a whiteout is a 0/0
// character device, an opaque directory carries trusted.overlay.opaque=y.
// Unpack writes these marks, the copy driver's merge and the diff read them.
import type { Stats } from 'node:fs';
import { fsx } from '../../util/fsx.js';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';
const OPAQUE_XATTR = 'trusted.overlay.opaque';
const OVERLAY_XATTRS = /^trusted\.overlay\./;

export const isWhiteout = (st: Stats): boolean => st.isCharacterDevice() && st.rdev === 0;

export const isOpaque = (dir: string): boolean => fsx().lgetxattr(dir, OPAQUE_XATTR)?.toString() === 'y';

export function markOpaque(dir: string): void {
  fsx().lsetxattr(dir, OPAQUE_XATTR, Buffer.from('y'));
}

/** The file's own extended attributes, without overlay's marks. */
export function contentXattrs(p: string): [string, Buffer][] {
  const out: [string, Buffer][] = [];
  for (const name of fsx().llistxattr(p)) {
    if (OVERLAY_XATTRS.test(name)) continue;
    const v = fsx().lgetxattr(p, name);
    if (v) out.push([name, v]);
  }
  return out;
}

export { devNumbers } from '../confined/pack.js';
