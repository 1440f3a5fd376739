// How a layer directory marks what overlayfs needs: a whiteout is a 0/0
// character device, an opaque directory carries trusted.overlay.opaque=y.
// Unpack writes these marks, the copy driver's merge and the diff read them.
import type { Stats } from 'node:fs';
import { fsx } from '../../util/fsx.js';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';
export const OPAQUE_XATTR = 'trusted.overlay.opaque';
const OVERLAY_XATTRS = /^trusted\.overlay\./;

export const isWhiteout = (st: Stats): boolean => st.isCharacterDevice() && st.rdev === 0;

export const isOpaque = (dir: string): boolean => fsx().lgetxattr(dir, OPAQUE_XATTR)?.toString() === 'y';

/** isOpaque for a directory open as `fd` (a tree read by fd). */
export const isOpaqueFd = (fd: number): boolean => fsx().xattrsFd(fd).some(([name, v]) => name === OPAQUE_XATTR && v.toString() === 'y');

/** A file's extended attributes without overlay's own marks. */
export const withoutOverlayMarks = (xattrs: [string, Buffer][]): [string, Buffer][] => xattrs.filter(([name]) => !OVERLAY_XATTRS.test(name));

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

/** Major and minor of a device number as Linux encodes it (huge_encode_dev, 32-bit part). */
export function devNumbers(rdev: number): { major: number; minor: number } {
  return { major: Math.floor(rdev / 256) & 0xfff, minor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00) };
}
