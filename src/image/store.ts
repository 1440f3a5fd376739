// The image store: verified blobs (content.ts), layer snapshots
// (snapshots.ts) and the list of images with their names, in images.json.
// An image is known by its config digest (docker's image ID). Everything an
// image refers to is found from it, so what nothing refers to can be freed
// exactly (rmi, prune) and `df` counts each byte once.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { withFileLock } from '../util/lock.js';
import { syncFilesystem } from '../util/fsx.js';
import { join, posix } from 'node:path';
import { writeFileAtomic, writeFileAtomicAsync } from '../util/atomic.js';
import { Conflict, Field, InvalidInput, NotFound } from '../util/check.js';
import { ContentStore, type Expect } from './content.js';
import { Snapshots, chainIDs, diskUsage, fileBytes, type Driver, type Mount } from './snapshots.js';
import { formatReference, parseReference } from './reference.js';
import { parseImageConfig, parseManifest } from './oci/validate.js';
import type { ImageConfig, Manifest } from './oci/types.js';
import type { Readable, Writable } from 'node:stream';
import { diffLayer, diffUpperSync, mountPointEntries } from './layer/diff.js';
import { unpackLayer, type UnpackResult } from './layer/unpack.js';
import { closeFd, removeChild, withRootDir } from './confined/index.js';
import type { Compression } from './oci/types.js';

/**
 * A committed container's files put on disk before a record names them (a
 * crash then leaves none or all of it), and their bytes (docker's size of
 * the layer), counted while the syncfs runs on the thread pool.
 */
async function syncedSize(dir: string): Promise<number> {
  const synced = syncFilesystem(dir);
  try { return fileBytes(dir); } finally { await synced; }
}

export interface ImageRecord {
  /** Config digest: the image ID. */
  id: string;
  manifest: string;
  manifestMediaType: string;
  /** The index (manifest list) the manifest was chosen from, if any. */
  index?: string;
  /** Full names with tags: docker.io/library/busybox:latest. */
  names: string[];
  /** name@digest of the manifest (or index) the image came as. */
  repoDigests: string[];
  /** Top layer's chainID (null for an image without layers). */
  chainID: string | null;
  added: string;
  /** The image a build made this one from (docker's Parent); an untagged parent is an intermediate image. */
  parent?: string;
}

/** docker's words for an image that is not here: the reference as it reads it ("busybox" is busybox:latest). */
const noSuchImage = (ref: string) => new NotFound(ref, `No such image: ${/^[a-z0-9]/.test(ref) && !/[:@]/.test(ref.slice(ref.lastIndexOf('/') + 1)) ? `${ref}:latest` : ref}`);


export class ImageStore {
  readonly content: ContentStore;
  readonly snapshots: Snapshots;

  constructor(readonly root: string, opts: { driver?: Driver } = {}) {
    mkdirSync(root, { recursive: true, mode: 0o700 });
    this.content = new ContentStore(join(root, 'content'));
    this.snapshots = new Snapshots(join(root, 'snapshots'), opts.driver);
    this.content.cleanIngest();
  }

  private get file(): string { return join(this.root, 'images.json'); }

  list(): ImageRecord[] {
    return existsSync(this.file) ? JSON.parse(readFileSync(this.file, 'utf8')) as ImageRecord[] : [];
  }

  /** Runs `fn` on the image list while holding the store's lock; what it returns is saved. */
  update<T>(fn: (images: ImageRecord[]) => T): T {
    return withFileLock(join(this.root, 'lock'), () => {
      const images = this.list();
      const r = fn(images);
      writeFileAtomic(this.file, JSON.stringify(images, null, 1));
      return r;
    });
  }

  /** Finds an image by name (busybox, busybox:1), ID (full or a 12+ prefix, with or without sha256:) or name@digest. */
  resolve(ref: string): ImageRecord {
    const images = this.list();
    const hex = ref.replace(/^sha256:/, '');
    if (/^[a-f0-9]{12,64}$/.test(hex)) {
      const hits = images.filter((i) => i.id.slice(7).startsWith(hex));
      if (hits.length === 1) return hits[0]!;
      if (hits.length > 1) throw new Conflict(ref, `the image ID prefix ${ref} matches more than one image`);
    }
    let r;
    try { r = parseReference(ref); } catch { throw noSuchImage(ref); }
    if (r.digest) {
      const want = `${r.registry}/${r.repository}@${r.digest}`;
      const hit = images.find((i) => i.repoDigests.includes(want) || (i.manifest === r.digest && i.names.some((n) => n.startsWith(`${r.registry}/${r.repository}:`))));
      if (hit) return hit;
    } else {
      const name = formatReference(r);
      const hit = images.find((i) => i.names.includes(name));
      if (hit) return hit;
    }
    throw noSuchImage(ref);
  }

  /** Records an image; its names are taken from whatever image had them before. */
  add(rec: Omit<ImageRecord, 'added'>): ImageRecord {
    return this.update((images) => {
      for (const other of images) other.names = other.names.filter((n) => !rec.names.includes(n));
      let cur = images.find((i) => i.id === rec.id);
      if (cur) {
        cur.names = [...new Set([...cur.names, ...rec.names])];
        cur.repoDigests = [...new Set([...cur.repoDigests, ...rec.repoDigests])];
        Object.assign(cur, { manifest: rec.manifest, manifestMediaType: rec.manifestMediaType, index: rec.index ?? cur.index, chainID: rec.chainID });
      } else {
        cur = { ...rec, added: new Date().toISOString() };
        images.push(cur);
      }
      return cur;
    });
  }

  tag(source: string, target: string): void {
    const img = this.resolve(source);
    const name = formatReference(parseReference(target));
    if (parseReference(target).digest) throw new InvalidInput(target, 'a tag cannot contain a digest');
    this.update((images) => {
      for (const i of images) i.names = i.names.filter((n) => n !== name);
      images.find((i) => i.id === img.id)!.names.push(name);
    });
  }

  /**
   * Unpacks a layer blob into a new snapshot and keeps the blob (unless
   * `blobStored`): both go to scratch space first; `check` may refuse the
   * result; only then are the blob and the snapshot committed, under the
   * chain `place` names. On any failure nothing of it stays.
   */
  async addLayer(source: Readable, o: {
    compression: Compression; algorithm?: string; expect?: Expect; blobStored?: boolean;
    check?: (r: UnpackResult) => void; place: (r: UnpackResult) => { chain: string; parent: string | null };
  }): Promise<UnpackResult> {
    const dir = this.snapshots.scratch();
    const ingest = o.blobStored ? undefined : this.content.ingest(o.expect ?? {});
    try {
      const r = await unpackLayer(source, dir, o.compression, o.algorithm ?? 'sha256', ingest);
      o.check?.(r);
      // on disk before a record names it (a crash then leaves none or all of it)
      await syncFilesystem(dir);
      ingest?.commit(true); // the syncfs took the blob to disk too
      const { chain, parent } = o.place(r);
      this.snapshots.commit(dir, chain, r.diffID, parent, r.contentSize);
      return r;
    } catch (e) {
      ingest?.abort();
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  manifest(img: ImageRecord): Manifest {
    return parseManifest(new Field('manifest', JSON.parse(this.content.read(img.manifest).toString())));
  }

  config(img: ImageRecord): ImageConfig {
    // checked strictly when it came in; read back leniently (docker's own configs hold nulls)
    return parseImageConfig(new Field('config', JSON.parse(this.content.read(img.id).toString())), true);
  }

  /** Digests and layer chains an image keeps alive. */
  private refs(img: ImageRecord): { blobs: string[]; chains: string[] } {
    const blobs = [img.id, img.manifest];
    if (img.index) blobs.push(img.index);
    let chains: string[] = [];
    try {
      const m = this.manifest(img);
      blobs.push(...m.layers.map((l) => l.digest));
      chains = chainIDs(this.config(img).rootfs.diff_ids);
    } catch { /* a damaged image keeps only what its record names */ }
    return { blobs, chains };
  }

  /** A file prepareRoot keeps beside a container's snapshot: `parent` (its layer chain) or `image`. */
  private rootFile(key: string, name: 'parent' | 'image'): string { return join(this.snapshots.root, 'active', key, name); }

  /** What each container's snapshot stands on: its chain, and its image (not known for one made before it was recorded). */
  private containerRoots(): { chain: string | null; image?: string }[] {
    const roots = [];
    for (const key of this.snapshots.active()) {
      if (!existsSync(this.rootFile(key, 'parent'))) continue;
      const image = this.rootFile(key, 'image');
      roots.push({ chain: readFileSync(this.rootFile(key, 'parent'), 'utf8') || null, image: existsSync(image) ? readFileSync(image, 'utf8') : undefined });
    }
    return roots;
  }

  /** Chains that containers' snapshots stand on, with their parents. */
  private chainsInUse(): Set<string> {
    const used = new Set<string>();
    for (const r of this.containerRoots()) for (let c = r.chain; c; c = this.snapshots.info(c)?.parent ?? null) used.add(c);
    return used;
  }

  /** Images containers were made from; a container made before that was recorded counts the images of its chain. */
  private imagesInUse(): Set<string> {
    const roots = this.containerRoots();
    const used = new Set(roots.flatMap((r) => (r.image ? [r.image] : [])));
    const chains = new Set(roots.flatMap((r) => (r.image === undefined && r.chain ? [r.chain] : [])));
    if (chains.size) for (const img of this.list()) if (img.chainID !== null && chains.has(img.chainID)) used.add(img.id);
    return used;
  }

  /**
   * A container's writable root over an image; the image cannot be removed
   * while it exists. `transient` (an auto-removed container's): nothing of
   * it needs to outlive a crash of the machine.
   */
  async prepareRoot(key: string, img: ImageRecord, transient = false): Promise<Mount[]> {
    const mounts = this.snapshots.prepare(key, img.chainID, transient);
    // the disk's waits in libuv's threads: a burst of creates leaves the daemon free to serve reads
    await Promise.all([
      writeFileAtomicAsync(this.rootFile(key, 'parent'), img.chainID ?? '', { durable: !transient }),
      writeFileAtomicAsync(this.rootFile(key, 'image'), img.id, { durable: !transient }),
    ]);
    return mounts;
  }

  /**
   * A container's changes as a layer tar (for commit, export of changes,
   * build), without the mount points the runtime made at `mountPoints`
   * (see mountPointEntries).
   */
  diffRoot(key: string, out: Writable, mountPoints: string[] = [], clampMtime?: number): Promise<void> {
    const upper = this.snapshots.upperDir(key);
    const parent = readFileSync(this.rootFile(key, 'parent'), 'utf8');
    const lowers = parent ? this.snapshots.lowerDirs(parent) : [];
    return mountPointEntries(upper, mountPoints, lowers).then((omit) => diffLayer(upper, out, this.snapshots.driver === 'overlay' ? undefined : lowers, omit, clampMtime));
  }

  /**
   * A build step's changes as a layer over its container's image, the way
   * containerd's overlay snapshotter commits: the stopped container's upper
   * dir (its root unmounted, no process left to change it) becomes the
   * layer's snapshot, and its diff goes once, straight into the content
   * store; nothing is unpacked again. The mount points the runtime made are
   * removed from it first, as the layer's tar never holds them. Undefined
   * with the copy driver, which keeps no upper dir: the caller diffs and unpacks.
   */
  async adoptRoot(key: string, mountPoints: string[]): Promise<{ diffID: string; digest: string; size: number; chain: string } | undefined> {
    if (this.snapshots.driver !== 'overlay') return undefined;
    const upper = this.snapshots.upperDir(key);
    const parent = readFileSync(this.rootFile(key, 'parent'), 'utf8') || null;
    const omit = await mountPointEntries(upper, mountPoints, parent ? this.snapshots.lowerDirs(parent) : []);
    await withRootDir(upper, (root) => {
      for (const rel of [...omit].sort((a, b) => b.length - a.length)) { // what is inside first
        const dir = root.resolve(`/${posix.dirname(rel)}`, false);
        try { removeChild(dir, posix.basename(rel)); } finally { closeFd(dir); }
      }
    });
    const ingest = this.content.ingest();
    let digest: string;
    try {
      await diffUpperSync(upper, (chunk) => ingest.append(chunk)); // one pass: read, digest, write
      digest = ingest.commit();
    } catch (e) { ingest.abort(); throw e; }
    const chain = chainIDs([...(parent ? [parent] : []), digest])[parent ? 1 : 0]!;
    this.snapshots.commit(upper, chain, digest, parent, await syncedSize(upper));
    mkdirSync(upper); // the container's snapshot stays whole until it is removed
    return { diffID: digest, digest, size: ingest.bytes, chain };
  }

  /**
   * Removes a name, or the image with all its names when `ref` is an ID.
   * The image a container was made from is refused unless `force` (then
   * only untagged while in use). Returns the image's ID, and what was untagged and deleted, as docker prints it.
   */
  remove(ref: string, opts: { force?: boolean } = {}): { id: string; untagged: string[]; deleted: string[] } {
    const img = this.resolve(ref);
    const byName = !img.id.slice(7).startsWith(ref.replace(/^sha256:/, ''));
    // docker's rule: the image a container was made from, not another that shares its layers (collect keeps those)
    const inUse = this.imagesInUse().has(img.id);
    const untagged: string[] = [];
    let drop = false;
    this.update((images) => {
      const cur = images.find((i) => i.id === img.id)!;
      if (byName && cur.names.length > 1) {
        const name = formatReference(parseReference(ref));
        cur.names = cur.names.filter((n) => n !== name);
        untagged.push(name);
        return;
      }
      if (inUse && !opts.force) throw new Conflict(ref, `conflict: unable to remove repository reference "${ref}" (must force) - a container is using its referenced image ${img.id.slice(7, 19)}`);
      if (!byName && cur.names.length > 1 && !opts.force) throw new Conflict(ref, `conflict: unable to delete ${img.id.slice(7, 19)} (must be forced) - image is referenced in multiple repositories (${cur.names.join(', ')})`);
      untagged.push(...cur.names, ...cur.repoDigests);
      if (inUse) { cur.names = []; return; }
      images.splice(images.indexOf(cur), 1);
      drop = true;
    });
    const deleted = drop ? [img.id, ...this.collect().layers] : [];
    return { id: img.id, untagged, deleted };
  }

  /** Frees every blob and layer no image and no container refers to. Returns what went. */
  collect(): { blobs: string[]; layers: string[] } {
    const keepBlobs = new Set<string>(), keepChains = this.chainsInUse();
    for (const img of this.list()) {
      const r = this.refs(img);
      r.blobs.forEach((b) => keepBlobs.add(b));
      r.chains.forEach((c) => keepChains.add(c));
    }
    const blobs: string[] = [], layers: string[] = [];
    for (const d of this.content.list()) if (!keepBlobs.has(d)) { this.content.delete(d); blobs.push(d); }
    for (const c of Object.keys(this.snapshots.all())) if (!keepChains.has(c)) { this.snapshots.remove(c); layers.push(c); }
    return { blobs, layers };
  }

  /**
   * Removes images without names (dangling), or all unused ones with `all`:
   * the names they had (untagged), the images, and everything deleted
   * (images, then the layers no image keeps).
   */
  prune(opts: { all?: boolean } = {}): { untagged: { name: string; id: string }[]; images: string[]; deleted: string[]; reclaimed: number } {
    const before = this.usage();
    const used = this.imagesInUse();
    const untagged: { name: string; id: string }[] = [], pruned: string[] = [];
    this.update((images) => {
      const parents = new Set(images.map((i) => i.parent));
      for (const img of [...images]) {
        if (used.has(img.id)) continue;
        if (!opts.all && parents.has(img.id)) continue; // a build's intermediate image is not dangling: its child needs it as the cache's link
        if (img.names.length === 0 || opts.all) {
          images.splice(images.indexOf(img), 1);
          untagged.push(...img.names.map((name) => ({ name, id: img.id })));
          pruned.push(img.id);
        }
      }
    });
    return { untagged, images: pruned, deleted: [...pruned, ...this.collect().layers], reclaimed: before - this.usage() };
  }

  /** `builder prune`: a build's untagged images (its intermediate ones, and those a failed build left) that no container uses. */
  pruneBuilt(): { images: string[]; reclaimed: number } {
    const before = this.usage();
    const used = this.imagesInUse();
    const pruned: string[] = [];
    this.update((images) => {
      for (const img of [...images]) if (img.parent && img.names.length === 0 && !used.has(img.id)) { images.splice(images.indexOf(img), 1); pruned.push(img.id); }
    });
    this.collect();
    return { images: pruned, reclaimed: before - this.usage() };
  }

  /** Bytes the store takes on disk, each inode counted once (what du reports). */
  usage(): number {
    return diskUsage(this.root, new Set());
  }
}
