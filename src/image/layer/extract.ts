// The tar of one layer, written into an empty directory in overlayfs's
// format. The directory is the extractor's alone, so it keeps the tree it has
// made in memory and decides every step from that: where a name leads
// through the layer's own symlinks (as if the directory were /), what an
// earlier entry left that a later one replaces, which parents are missing.
// The steps go as lists of ops (ops.ts) to the thread pool, one list at a
// time and in order, while the next part of the tar is parsed here.
import { closeSync, constants, openSync } from 'node:fs';
import type tar from 'tar-stream';
import { TarReader } from './tar-read.js';
import { OPAQUE_MARKER, OPAQUE_XATTR, WHITEOUT_PREFIX } from './overlay-format.js';
import { InvalidInput } from '../../util/check.js';
import { entryPath, headerXattrs } from '../confined/unpack.js';
import { S_IFBLK, S_IFCHR, S_IFIFO, syncFilesystemOf } from '../../util/fsx.js';
import { NO_META, OpCode, OpList, opExtra, opMeta, type OpFailure, type OpMeta } from './ops.js';

const MAX_SYMLINK_HOPS = 40;
/** A list goes to the pool when it holds this many ops or bytes of content. */
const LIST_OPS = 1024, LIST_BYTES = 4 << 20;
/** Lists sent to the pool and not yet done, past which the writer is held back. */
const LISTS_IN_FLIGHT = 2;
/**
 * Content written past which a syncfs starts in the background, so that the
 * one that makes the layer durable (the store's) finds little left to write.
 */
const SYNC_EVERY = 32 << 20;

export class LayerError extends InvalidInput {}

type Node = Dir | { kind: 'file'; size: number } | { kind: 'other' } | { kind: 'link'; target: string };
interface Dir { kind: 'dir'; children: Map<string, Node> }

/** What the extractor tells whoever feeds it. */
export interface ExtractorEvents {
  /** It had no room (write() said false) and has room again, or it failed. */
  room(): void;
}

/** Takes a layer's tar in chunks (write), then finish() and, always, close(). */
export class Extractor {
  private readonly reader = new TarReader({ entry: (h) => this.entry(h), data: (c) => this.list.addData(c) });
  private readonly root: Dir = { kind: 'dir', children: new Map() };
  private readonly rootFd: number;
  private list = new OpList();
  /** The last list sent: each runs once the one before it has (the ops depend on each other's order). */
  private running: Promise<void> | undefined;
  private inFlight = 0;
  private full = false;
  private dirTimes: [string, Dir, Date][] = [];
  private failed: Error | undefined;
  private unsynced = 0;
  private syncing: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly dest: string, private readonly events: ExtractorEvents) {
    this.rootFd = openSync(dest, constants.O_RDONLY | constants.O_DIRECTORY);
  }

  /** Reads the chunk (a damaged tar, or a refused entry, throws); false when it wants no more until room(). */
  write(chunk: Buffer): boolean {
    if (this.failed) throw this.failed;
    try { this.reader.write(chunk); } catch (e) { this.failed ??= e as Error; throw this.failed; }
    this.full = this.inFlight >= LISTS_IN_FLIGHT;
    return !this.full;
  }

  /** The tar has ended: the rest is written, directories get their times, and the lists' writes start to disk. */
  async finish(): Promise<void> {
    if (!this.failed) {
      try { this.reader.end(); } catch (e) { this.failed ??= e as Error; }
    }
    if (this.failed) throw this.failed;
    // directories last: their children changed their mtimes
    for (const [path, dir, mtime] of this.dirTimes.reverse()) {
      if (this.lookup(path) !== dir) continue; // replaced by a later entry
      const [parent, name] = split(path);
      this.list.add(OpCode.utimes, parent, name, path, opMeta(-1, -1, -1, mtime, []));
    }
    this.flush();
    await this.running;
    await this.syncing;
    if (this.failed) throw this.failed;
  }

  /** Waits for the ops running (the caller may remove the directory after), then lets the directory go. */
  async close(): Promise<void> {
    this.failed ??= new Error('stopped'); // lists not yet started (the unpack failed elsewhere) do not run
    await Promise.all([this.running, this.syncing]);
    if (!this.closed) { this.closed = true; closeSync(this.rootFd); }
  }

  /** True when the entry's content is to be written (a file's). */
  private entry(h: tar.Header): boolean {
    if (this.list.length >= LIST_OPS || this.list.dataBytes >= LIST_BYTES) this.flush();
    const rel = entryPath(h.name);
    const what = `layer entry ${JSON.stringify(h.name)}`;
    if (rel === '') { // the root itself: metadata only
      if (h.type === 'directory') this.directoryMeta('', this.root, h, OpCode.attr, false);
      return false;
    }
    const parts = rel.split('/');
    const base = parts.pop()!;
    const parentParts = this.resolve(parts, true, what);
    const parent = parentParts.join('/');
    const dir = this.ensureDir(parentParts, what);
    if ((h.type === 'file' || h.type === 'contiguous-file') && base !== OPAQUE_MARKER && !base.startsWith(WHITEOUT_PREFIX)) {
      this.file(dir, parent, base, h, what);
      return true;
    }
    this.other(dir, parent, base, h, what);
    return false;
  }

  /** Every entry but a regular file's. */
  private other(dir: Dir, parent: string, base: string, h: tar.Header, what: string): void {
    const path = join(parent, base);
    if (base === OPAQUE_MARKER) {
      const [pp, pn] = split(parent);
      this.list.add(OpCode.attr, pp, pn, what, opMeta(-1, -1, -1, undefined, [[OPAQUE_XATTR, Buffer.from('y')]]));
      return;
    }
    if (base.startsWith(WHITEOUT_PREFIX)) {
      const name = base.slice(WHITEOUT_PREFIX.length);
      this.remove(dir, parent, name, what);
      this.list.add(OpCode.mknod, parent, name, what, NO_META, opExtra(0, '', '', S_IFCHR, 0, 0, false));
      dir.children.set(name, { kind: 'other' });
      return;
    }
    const mode = (h.mode ?? 0o644) & 0o7777;
    switch (h.type) {
      case 'directory': {
        const old = dir.children.get(base);
        if (old?.kind === 'dir') { this.directoryMeta(path, old, h, OpCode.attr, true); return; }
        this.remove(dir, parent, base, what);
        const made: Dir = { kind: 'dir', children: new Map() };
        dir.children.set(base, made);
        this.directoryMeta(path, made, h, OpCode.mkdir, true);
        return;
      }
      case 'symlink':
        this.remove(dir, parent, base, what);
        this.list.add(OpCode.symlink, parent, base, what, meta(h, -1), opExtra(0, h.linkname ?? '', '', 0, 0, 0, false));
        dir.children.set(base, { kind: 'link', target: h.linkname ?? '' });
        return;
      case 'link': {
        const targetRel = entryPath(h.linkname ?? '');
        const tparts = targetRel.split('/');
        const tbase = tparts.pop()!;
        const tparentParts = this.resolve(tparts, true, what);
        const tparent = tparentParts.join('/');
        const target = this.lookup(join(tparent, tbase));
        if (!target) throw new LayerError(what, `hardlink to ${JSON.stringify(h.linkname)}, which is not in this layer`);
        if (target.kind === 'dir') throw new LayerError(what, `hardlink to a directory ${JSON.stringify(h.linkname)}`);
        if (join(tparent, tbase) === path) return; // a link to itself: already there
        this.remove(dir, parent, base, what);
        this.list.add(OpCode.link, parent, base, what, NO_META, opExtra(0, tparent, tbase, 0, 0, 0, false));
        dir.children.set(base, target);
        return;
      }
      case 'character-device': case 'block-device': case 'fifo': {
        const kind = h.type === 'fifo' ? S_IFIFO : h.type === 'block-device' ? S_IFBLK : S_IFCHR;
        this.remove(dir, parent, base, what);
        this.list.add(OpCode.mknod, parent, base, what, meta(h, mode), opExtra(0, '', '', kind | mode, h.devmajor ?? 0, h.devminor ?? 0, false));
        dir.children.set(base, { kind: 'other' });
        return;
      }
      default:
        throw new LayerError(what, `unsupported entry type ${JSON.stringify(h.type)}`);
    }
  }

  /** A regular file: its op now; its content, as it comes, goes to the same list. */
  private file(dir: Dir, parent: string, base: string, h: tar.Header, what: string): void {
    this.remove(dir, parent, base, what);
    this.list.add(OpCode.file, parent, base, what, meta(h, (h.mode ?? 0o644) & 0o7777), opExtra(h.size ?? 0, '', '', 0, 0, 0, false));
    dir.children.set(base, { kind: 'file', size: h.size ?? 0 });
  }

  /**
   * The layer's size as docker reports it (the apparent size of all but
   * directories, each inode once: symlinks count their target's length),
   * from the tree kept here rather than a walk of the disk.
   */
  contentBytes(): number {
    const seen = new Set<Node>();
    const sum = (dir: Dir): number => {
      let n = 0;
      for (const node of dir.children.values()) {
        if (node.kind === 'dir') n += sum(node);
        else if (!seen.has(node)) {
          seen.add(node);
          n += node.kind === 'file' ? node.size : node.kind === 'link' ? Buffer.byteLength(node.target) : 0;
        }
      }
      return n;
    };
    return sum(this.root);
  }

  private directoryMeta(path: string, dir: Dir, h: tar.Header, code: number, setMode: boolean): void {
    const [parent, name] = split(path);
    // a directory's mtime is set last (dirTimes): its entries change it
    const m: OpMeta = opMeta(h.uid ?? 0, h.gid ?? 0, setMode ? (h.mode ?? 0o755) & 0o7777 : -1, undefined, headerXattrs(h));
    this.list.add(code, parent, name, path || '/', m);
    if (h.mtime) this.dirTimes.push([path, dir, h.mtime]);
  }

  /** `parts` followed through the layer's symlinks, clamped at its root; the last part only when `followLast`. */
  private resolve(parts: string[], followLast: boolean, what: string): string[] {
    const pending = [...parts];
    const done: string[] = [];
    const nodes: (Node | undefined)[] = [this.root];
    let hops = 0;
    while (pending.length) {
      const c = pending.shift()!;
      if (c === '..') { if (done.length) { done.pop(); nodes.pop(); } continue; }
      const here = nodes[nodes.length - 1];
      const node = here?.kind === 'dir' ? here.children.get(c) : undefined;
      if (node?.kind === 'link' && (pending.length > 0 || followLast)) {
        if (++hops > MAX_SYMLINK_HOPS) throw new LayerError(what, 'too many levels of symbolic links');
        if (node.target.startsWith('/')) { done.length = 0; nodes.length = 1; }
        pending.unshift(...node.target.split('/').filter((x) => x && x !== '.'));
        continue;
      }
      done.push(c);
      nodes.push(node);
    }
    return done;
  }

  /** The directory at `parts` (resolved), with the missing ones made. */
  private ensureDir(parts: string[], what: string): Dir {
    let dir = this.root;
    for (let i = 0; i < parts.length; i++) {
      const c = parts[i]!;
      let node = dir.children.get(c);
      if (!node) {
        node = { kind: 'dir', children: new Map() };
        this.list.add(OpCode.mkdir, parts.slice(0, i).join('/'), c, what, opMeta(-1, -1, 0o755, undefined, []));
        dir.children.set(c, node);
      }
      if (node.kind !== 'dir') throw new LayerError(what, 'its parent is not a directory');
      dir = node;
    }
    return dir;
  }

  /** The node at a resolved path, or undefined. */
  private lookup(path: string): Node | undefined {
    let node: Node | undefined = this.root;
    for (const c of path ? path.split('/') : []) node = node?.kind === 'dir' ? node.children.get(c) : undefined;
    return node;
  }

  /** Removes what an earlier entry left at parent/name (a directory with all under it). */
  private remove(dir: Dir, parent: string, name: string, label: string): void {
    const node = dir.children.get(name);
    if (!node) return;
    if (node.kind === 'dir') for (const child of [...node.children.keys()]) this.remove(node, join(parent, name), child, label);
    this.list.add(OpCode.unlink, parent, name, label, NO_META, opExtra(0, '', '', 0, 0, 0, node.kind === 'dir'));
    dir.children.delete(name);
  }

  /** Sends the list to the pool, to run after the one before. */
  private flush(): void {
    const list = this.list;
    if (!list.length || this.failed) return;
    this.list = new OpList();
    this.inFlight++;
    const before = this.running;
    this.running = (async () => {
      await before;
      if (!this.failed) {
        this.syncEarlier();
        this.unsynced += list.dataBytes;
        await list.run(this.rootFd).catch((e: OpFailure) => {
          const label = list.labels[e.opIndex];
          this.failed ??= label ? new LayerError(label, e.message) : e;
        });
      }
      this.inFlight--;
      if (this.full && (this.failed || this.inFlight < LISTS_IN_FLIGHT)) { this.full = false; this.events.room(); }
    })();
  }

  /** Writes back what the lists before have written, while this one runs. */
  private syncEarlier(): void {
    if (this.syncing || this.unsynced < SYNC_EVERY) return;
    this.unsynced = 0;
    // an error now must fail the layer: the store's own syncfs, on a later fd, would not see it
    this.syncing = syncFilesystemOf(this.rootFd, this.dest).catch((e: Error) => { this.failed ??= e; })
      .finally(() => { this.syncing = undefined; });
  }
}

const join = (parent: string, name: string) => (parent ? `${parent}/${name}` : name);
/** A resolved path as (parent, name); the root is ("", ""). */
function split(path: string): [string, string] {
  const i = path.lastIndexOf('/');
  return i < 0 ? ['', path] : [path.slice(0, i), path.slice(i + 1)];
}

/** The entry's owner, xattrs and mtime, and `mode` (-1: none to set). */
function meta(h: tar.Header, mode: number): OpMeta {
  return opMeta(h.uid ?? 0, h.gid ?? 0, mode, h.mtime, headerXattrs(h));
}
