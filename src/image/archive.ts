// Images to and from tar archives: `save` writes an OCI image layout that
// also carries docker's manifest.json (so `docker load`, podman and skopeo
// all read it), `load` reads that, docker's older save format, or a plain
// OCI layout, and `import` makes a one-layer image of a root filesystem tar.
// Every blob is checked: layers against the config's diff_ids, blobs against
// their digests. Nothing is named until all of an image checked out.
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync, existsSync, openSync, readSync, closeSync, mkdirSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { tarStream } from './layer/tar-pax.js';
import { Field, InvalidInput } from '../util/check.js';
import { digestOf } from './content.js';
import { MediaType, MANIFEST_TYPES, INDEX_TYPES, type Compression, type Descriptor, type ImageConfig, type Manifest, layerCompression } from './oci/types.js';
import { parseImageConfig, parseIndex, parseManifest, parseLayoutHeader } from './oci/validate.js';
import { formatReference, parseReference, shortReference } from './reference.js';
import { chainIDs } from './snapshots.js';
import { hostArch } from './pull.js';
import { entryPath } from './confined/index.js';
import { legacyCandidates } from './legacy-archive.js';
import type { ImageRecord, ImageStore } from './store.js';

const LAYER_TYPE: Record<Compression, string> = { none: MediaType.ociLayer, gzip: MediaType.ociLayerGzip, zstd: MediaType.ociLayerZstd };

function sniff(path: string): Compression {
  const fd = openSync(path, 'r');
  const b = Buffer.alloc(4);
  try { readSync(fd, b, 0, 4, 0); } finally { closeSync(fd); }
  if (b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/** Unpacks an archive's entries into `dir` (names confined like layer entries). */
async function extractArchive(src: Readable, dir: string): Promise<void> {
  const ex = tarStream().extract();
  ex.on('entry', (h, stream, next) => {
    (async () => {
      const rel = entryPath(h.name);
      if (h.type === 'directory' || rel === '') { mkdirSync(join(dir, rel), { recursive: true }); stream.resume(); return; }
      if (h.type !== 'file' && h.type !== 'symlink') { stream.resume(); return; }
      mkdirSync(dirname(join(dir, rel)), { recursive: true });
      if (h.type === 'symlink') { stream.resume(); return; } // docker's old format links duplicate layers; read by path instead
      await pipeline(stream as unknown as Readable, createWriteStream(join(dir, rel), { flags: 'wx' }));
    })().then(() => next(), (e: Error) => { stream.resume(); next(e); });
  });
  await pipeline(src, ex as unknown as Writable);
}

export interface Candidate { names: string[]; config: Buffer; layers: string[]; manifest?: { body: Buffer; mediaType: string }; dockerConfig: boolean }

function readJsonFile(path: string, what: string): unknown {
  if (!existsSync(path)) throw new InvalidInput(what, 'is missing from the archive');
  try { return JSON.parse(readFileSync(path, 'utf8')); } catch (e) { throw new InvalidInput(what, `not valid JSON: ${(e as Error).message}`); }
}

function blobPath(dir: string, digest: string): string {
  const [alg, hex] = digest.split(':');
  return join(dir, 'blobs', alg!, hex!);
}

/** What an archive holds: docker's manifest.json first (it names layers by path), else index.json. */
function candidates(dir: string): Candidate[] {
  if (existsSync(join(dir, 'manifest.json'))) {
    const f = new Field('manifest.json', readJsonFile(join(dir, 'manifest.json'), 'manifest.json'));
    return f.array().map((e) => {
      const cfgPath = entryPath(e.at('Config').string());
      return {
        names: e.at('RepoTags').exists && e.at('RepoTags').value !== null ? e.at('RepoTags').strings() : [],
        config: readFileSync(join(dir, cfgPath)),
        layers: e.at('Layers').strings().map((l) => join(dir, entryPath(l))),
        dockerConfig: true,
      };
    });
  }
  if (!existsSync(join(dir, 'index.json'))) {
    const legacy = legacyCandidates(dir);
    if (legacy) return legacy;
    throw new InvalidInput('archive', 'has neither manifest.json (docker save), index.json (OCI layout) nor repositories (the old docker save)');
  }
  parseLayoutHeader(new Field('oci-layout', readJsonFile(join(dir, 'oci-layout'), 'oci-layout')));
  const out: Candidate[] = [];
  const visit = (d: Descriptor, name: string | undefined) => {
    const body = readFileSync(blobPath(dir, d.digest));
    if (digestOf(body, d.digest.split(':')[0]) !== d.digest) throw new InvalidInput(d.digest, 'blob in the archive does not match its digest');
    if (INDEX_TYPES.includes(d.mediaType)) {
      for (const m of parseIndex(new Field('index', JSON.parse(body.toString()))).manifests) {
        if (!m.platform || (m.platform.os === 'linux' && m.platform.architecture === 'amd64')) visit(m, name);
      }
      return;
    }
    if (!MANIFEST_TYPES.includes(d.mediaType)) return;
    const m = parseManifest(new Field('manifest', JSON.parse(body.toString())));
    out.push({
      names: name ? [name] : [], config: readFileSync(blobPath(dir, m.config.digest)),
      layers: m.layers.map((l) => blobPath(dir, l.digest)), manifest: { body, mediaType: d.mediaType },
      dockerConfig: m.config.mediaType === MediaType.dockerConfig,
    });
  };
  for (const d of parseIndex(new Field('index.json', readJsonFile(join(dir, 'index.json'), 'index.json'))).manifests) {
    const a = d.annotations ?? {};
    // ref.name is often only a tag (umoci, skopeo oci:DIR:TAG): a name only when it is a full reference
    const refName = a['org.opencontainers.image.ref.name'];
    const ref = a['io.containerd.image.name'] ?? (refName && /[/:]/.test(refName) ? refName : undefined);
    let name: string | undefined;
    if (ref) { try { name = formatReference(parseReference(ref)); } catch { name = undefined; } }
    visit(d, name);
  }
  return out;
}

/** Stores one image from unpacked files; the layers are checked against the config. */
async function storeImage(store: ImageStore, c: Candidate): Promise<ImageRecord> {
  const config: ImageConfig = parseImageConfig(new Field('config', JSON.parse(c.config.toString())), c.dockerConfig);
  const diffIDs = config.rootfs.diff_ids;
  if (diffIDs.length !== c.layers.length) throw new InvalidInput('config.rootfs.diff_ids', `lists ${diffIDs.length} layers, the archive has ${c.layers.length}`);
  const chains = chainIDs(diffIDs);
  const descs: Descriptor[] = [];
  for (const [i, path] of c.layers.entries()) {
    if (!existsSync(path)) throw new InvalidInput(`layer ${i}`, `${path.split('/').slice(-3).join('/')} is missing from the archive`);
    const compression = sniff(path);
    try {
      const r = await store.addLayer(createReadStream(path), {
        compression,
        check: (u) => { if (u.diffID !== diffIDs[i]) throw new InvalidInput(`layer ${i}`, `content has diffID ${u.diffID}, the config says ${diffIDs[i]}`); },
        place: () => ({ chain: chains[i]!, parent: i ? chains[i - 1]! : null }),
      });
      descs.push({ mediaType: LAYER_TYPE[compression], digest: r.digest, size: r.size });
    } catch (e) {
      throw e instanceof InvalidInput ? e : new InvalidInput(`layer ${i} (${path.split('/').slice(-2).join('/')})`, (e as Error).message);
    }
  }
  const configDigest = store.content.writeBuffer(c.config);
  let manifestBody = c.manifest?.body, mediaType = c.manifest?.mediaType ?? MediaType.ociManifest;
  if (manifestBody) {
    const m = parseManifest(new Field('manifest', JSON.parse(manifestBody.toString())));
    if (m.config.digest !== configDigest) throw new InvalidInput('manifest.config.digest', `is ${m.config.digest}, the config is ${configDigest}`);
    m.layers.forEach((l, i) => { if (l.digest !== descs[i]!.digest) throw new InvalidInput(`manifest.layers[${i}].digest`, `is ${l.digest}, the archive's layer is ${descs[i]!.digest}`); });
  } else {
    const m: Manifest = { schemaVersion: 2, mediaType, config: { mediaType: MediaType.ociConfig, digest: configDigest, size: c.config.length }, layers: descs };
    manifestBody = Buffer.from(JSON.stringify(m));
  }
  const manifestDigest = store.content.writeBuffer(manifestBody);
  return store.add({
    id: configDigest, manifest: manifestDigest, manifestMediaType: mediaType, names: c.names.map((n) => formatReference(parseReference(n))),
    repoDigests: [], chainID: chains.length ? chains[chains.length - 1]! : null,
  });
}

/**
 * Loads every image of an archive (docker save or OCI layout, as a tar
 * stream). Each record returned names only what the archive named.
 */
export async function load(store: ImageStore, src: Readable): Promise<ImageRecord[]> {
  const dir = mkdtempSync(join(store.root, 'load-'));
  try {
    await extractArchive(src, dir);
    const out: ImageRecord[] = [];
    for (const c of candidates(dir)) {
      const rec = await storeImage(store, c);
      out.push({ ...rec, names: rec.names.filter((n) => c.names.some((m) => formatReference(parseReference(m)) === n)) });
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What `load` reports, as docker words it: a line per name, or the ID of an image without one. */
export function loadedLines(images: ImageRecord[]): string[] {
  return images.flatMap((img) => (img.names.length ? img.names.map((n) => `Loaded image: ${shortReference(n)}`) : [`Loaded image ID: ${img.id}`]));
}

/** Writes `images` as one tar: an OCI layout plus docker's manifest.json. */
export async function save(store: ImageStore, refs: string[], out: Writable): Promise<void> {
  if (refs.length === 0) throw new InvalidInput('save', 'name at least one image');
  const pack = tarStream().pack();
  const done = pipeline(pack as unknown as Readable, out);
  // a reader gone early (a client that hung up) ends the pipeline: every write waiting on it fails then
  const broken = new Promise<never>((_res, rej) => { done.catch(rej); });
  broken.catch(() => {});
  const written = new Set<string>();
  const put = async (name: string, data: Buffer | Readable, size: number) => {
    await Promise.race([broken, new Promise<void>((res, rej) => {
      const header = { name, size, mode: 0o644, mtime: new Date(0) };
      if (Buffer.isBuffer(data)) { pack.entry(header, data, (e) => (e ? rej(e) : res())); return; }
      const entry = pack.entry(header, (e) => (e ? rej(e) : res()));
      (entry as unknown as Writable).on('error', rej); // the pack destroyed under it (a reader gone)
      data.on('error', rej);
      data.pipe(entry as unknown as Writable);
    })]).catch((e) => { if (!Buffer.isBuffer(data)) data.destroy(); throw e; });
  };
  const blob = async (digest: string) => {
    if (written.has(digest)) return;
    written.add(digest);
    await put(`blobs/${digest.replace(':', '/')}`, store.content.stream(digest), store.content.size(digest));
  };
  try {
    await saveEntries(store, refs, put, blob);
  } catch (e) {
    pack.destroy(e as Error);
    throw e;
  }
  pack.finalize();
  await done;
}

async function saveEntries(store: ImageStore, refs: string[], put: (name: string, data: Buffer, size: number) => Promise<void>, blob: (digest: string) => Promise<void>): Promise<void> {
  const index: Descriptor[] = [];
  const dockerManifest: { Config: string; RepoTags: string[]; Layers: string[] }[] = [];
  for (const ref of refs) {
    const img = store.resolve(ref);
    const m = store.manifest(img);
    for (const l of m.layers) {
      if (!store.content.has(l.digest)) throw new InvalidInput(ref, `layer blob ${l.digest} is not in the store`);
      if (!layerCompression(l.mediaType)) throw new InvalidInput(ref, `layer ${l.digest} has media type ${l.mediaType}`);
    }
    for (const d of [img.manifest, img.id, ...m.layers.map((l) => l.digest)]) await blob(d);
    // a name given as the argument, else all of the image's names; none for an image given by its ID (as docker's RepoTags: null)
    let names = /^(sha256:)?[0-9a-f]+$/.test(ref) && img.id.startsWith(ref.startsWith('sha256:') ? ref : `sha256:${ref}`) ? [] : img.names;
    try { const r = parseReference(ref); if (!r.digest && img.names.includes(formatReference(r))) names = [formatReference(r)]; } catch { /* an ID */ }
    for (const name of names.length ? names : ['']) {
      const annotations: Record<string, string> = {};
      if (name) { annotations['io.containerd.image.name'] = name; annotations['org.opencontainers.image.ref.name'] = parseReference(name).tag ?? 'latest'; }
      index.push({ mediaType: img.manifestMediaType, digest: img.manifest, size: store.content.size(img.manifest), ...(name ? { annotations } : {}) });
    }
    dockerManifest.push({
      Config: `blobs/${img.id.replace(':', '/')}`,
      RepoTags: names.map(shortReference),
      Layers: m.layers.map((l) => `blobs/${l.digest.replace(':', '/')}`),
    });
  }
  const json = (v: unknown) => Buffer.from(JSON.stringify(v));
  await put('oci-layout', json({ imageLayoutVersion: '1.0.0' }), json({ imageLayoutVersion: '1.0.0' }).length);
  const idx = json({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: index });
  await put('index.json', idx, idx.length);
  const man = json(dockerManifest);
  await put('manifest.json', man, man.length);
}

const CHANGE_KEYS = ['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'LABEL', 'ONBUILD', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR'];

/** Applies Dockerfile-like `--change` lines (CMD, ENV, ...) to a config. */
export function applyChanges(cfg: NonNullable<ImageConfig['config']>, changes: string[]): void {
  for (const line of changes) {
    const m = /^\s*(\w+)\s+([\s\S]*)$/.exec(line);
    const key = m?.[1]?.toUpperCase();
    if (!m || !key || !CHANGE_KEYS.includes(key)) throw new InvalidInput('--change', `${JSON.stringify(line)}: expected one of ${CHANGE_KEYS.join(', ')} and a value`);
    const rest = m[2]!.trim();
    const list = (): string[] => {
      if (rest.startsWith('[')) {
        try { const v = JSON.parse(rest); if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v; } catch { /* shell form */ }
      }
      return ['/bin/sh', '-c', rest];
    };
    const pairs = (): [string, string][] => {
      if (!rest.includes('=')) { const [k, ...v] = rest.split(/\s+/); return [[k!, v.join(' ')]]; }
      return [...rest.matchAll(/([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)/g)].map((x) => [x[1]!, x[2]!.startsWith('"') ? JSON.parse(x[2]!) as string : x[2]!]);
    };
    switch (key) {
      case 'CMD': cfg.Cmd = list(); break;
      case 'ENTRYPOINT': cfg.Entrypoint = list(); break;
      case 'ENV': for (const [k, v] of pairs()) cfg.Env = [...(cfg.Env ?? []).filter((e) => !e.startsWith(`${k}=`)), `${k}=${v}`]; break;
      case 'LABEL': cfg.Labels = { ...(cfg.Labels ?? {}), ...Object.fromEntries(pairs()) }; break;
      case 'EXPOSE': cfg.ExposedPorts = { ...(cfg.ExposedPorts ?? {}), ...Object.fromEntries(rest.split(/\s+/).map((p) => [p.includes('/') ? p : `${p}/tcp`, {}])) }; break;
      case 'VOLUME': cfg.Volumes = { ...(cfg.Volumes ?? {}), ...Object.fromEntries((rest.startsWith('[') ? list() : rest.split(/\s+/)).map((v) => [v, {}])) }; break;
      case 'WORKDIR': cfg.WorkingDir = rest; break;
      case 'USER': cfg.User = rest; break;
      case 'STOPSIGNAL': cfg.StopSignal = rest; break;
      case 'ONBUILD': cfg.OnBuild = [...(cfg.OnBuild ?? []), rest]; break;
    }
  }
}

/** A one-layer image from a root filesystem tar (plain, gzip or zstd). */
export async function importRootfs(store: ImageStore, src: Readable, opts: { name?: string; changes?: string[]; message?: string; platform?: { os: string; architecture: string } } = {}): Promise<ImageRecord> {
  const tmp = mkdtempSync(join(store.root, 'import-'));
  try {
    const file = join(tmp, 'rootfs');
    await pipeline(src, createWriteStream(file));
    if (statSync(file).size === 0) throw new InvalidInput('import', 'the input is empty');
    const cfg: NonNullable<ImageConfig['config']> = {};
    applyChanges(cfg, opts.changes ?? []);
    const created = new Date().toISOString();
    const compression = sniff(file);
    const r = await store.addLayer(createReadStream(file), { compression, place: (u) => ({ chain: u.diffID, parent: null }) });
    const config = Buffer.from(JSON.stringify({
      created, architecture: opts.platform?.architecture ?? 'amd64', os: opts.platform?.os ?? 'linux', config: cfg,
      rootfs: { type: 'layers', diff_ids: [r.diffID] },
      history: [{ created, created_by: '', comment: opts.message ?? 'Imported from -' }],
    }));
    const cfgDigest = store.content.writeBuffer(config);
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: cfgDigest, size: config.length },
      layers: [{ mediaType: LAYER_TYPE[compression], digest: r.digest, size: r.size }],
    }));
    const mDigest = store.content.writeBuffer(manifest);
    return store.add({
      id: cfgDigest, manifest: mDigest, manifestMediaType: MediaType.ociManifest,
      names: opts.name ? [formatReference(parseReference(opts.name))] : [], repoDigests: [], chainID: r.diffID,
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}


/**
 * `commit`: a new image from `parent` plus one layer (a container's diff,
 * written by `writeDiff`), with `config` as its runtime config.
 */
export function commitImage(store: ImageStore, parent: ImageRecord, writeDiff: (out: Writable) => Promise<unknown>, opts: {
  name?: string; config: NonNullable<ImageConfig['config']>; changes?: string[]; comment?: string; author?: string; createdBy?: string;
}): Promise<ImageRecord> {
  const cfg = { ...opts.config };
  applyChanges(cfg, opts.changes ?? []);
  return deriveImage(store, parent, { ...opts, config: cfg, writeDiff, recordParent: true }); // docker's commit records the container's image as Parent
}

/**
 * A new image from `parent` (none: FROM scratch): one more layer when
 * `writeDiff` writes one (a tar), or none (a history line marked
 * empty_layer, as a build's config steps make), with `config` as its
 * runtime config. A built image records its parent, as docker's do.
 */
export async function deriveImage(store: ImageStore, parent: ImageRecord | undefined, opts: {
  name?: string; config: NonNullable<ImageConfig['config']>; comment?: string; author?: string; createdBy?: string;
  writeDiff?: (out: Writable) => Promise<unknown>; recordParent?: boolean;
  /** the layer, already stored (ImageStore.adoptRoot), instead of writeDiff's */
  layer?: { diffID: string; digest: string; size: number; chain: string };
  /** the image's time (SOURCE_DATE_EPOCH's), else now */
  created?: string;
  /** false: no history line (the empty base a COPY onto scratch starts from) */
  history?: boolean;
}): Promise<ImageRecord> {
  const tmp = mkdtempSync(join(store.root, 'commit-'));
  try {
    const base: ImageConfig = parent ? store.config(parent) : { architecture: hostArch(), os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, history: [] };
    const baseLayers = parent ? store.manifest(parent).layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })) : [];
    const parentChain = parent?.chainID ?? null;
    let chain = opts.layer?.chain ?? parentChain, layer: { diffID: string; digest: string; size: number } | undefined = opts.layer;
    if (opts.writeDiff && !layer) {
      const file = join(tmp, 'layer.tar');
      await opts.writeDiff(createWriteStream(file));
      layer = await store.addLayer(createReadStream(file), {
        compression: 'none',
        place: (u) => ({ chain: chainIDs([...(parentChain ? [parentChain] : []), u.diffID])[parentChain ? 1 : 0]!, parent: parentChain }),
      });
      chain = chainIDs([...(parentChain ? [parentChain] : []), layer.diffID])[parentChain ? 1 : 0]!;
    }
    const created = opts.created ?? new Date().toISOString();
    const history = { created, created_by: opts.createdBy ?? '', comment: opts.comment ?? '', ...(opts.author ? { author: opts.author } : {}), ...(!layer && { empty_layer: true }) };
    if (!history.comment) delete (history as { comment?: string }).comment;
    const config = Buffer.from(JSON.stringify({
      ...base, created, author: opts.author ?? '', config: opts.config,
      rootfs: { type: 'layers', diff_ids: [...base.rootfs.diff_ids, ...(layer ? [layer.diffID] : [])] },
      history: [...(base.history ?? []), ...(opts.history === false ? [] : [history])],
    }));
    const cfgDigest = store.content.writeBuffer(config);
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: cfgDigest, size: config.length },
      layers: [...baseLayers, ...(layer ? [{ mediaType: LAYER_TYPE.none, digest: layer.digest, size: layer.size }] : [])],
    }));
    const mDigest = store.content.writeBuffer(manifest);
    return store.add({
      id: cfgDigest, manifest: mDigest, manifestMediaType: MediaType.ociManifest,
      names: opts.name ? [formatReference(parseReference(opts.name))] : [], repoDigests: [], chainID: chain,
      ...(opts.recordParent && parent && { parent: parent.id }),
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

