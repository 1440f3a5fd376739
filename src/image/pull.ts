// Pull: manifest (an index picks the platform), config, then every layer at
// once: each one streams from the registry through its digest check into the
// content store and, decompressed, into its snapshot directory, with its
// diffID checked against the config. Only when all of it checked out does
// the image get its name, so an interrupted pull leaves no half image; blobs
// and layers already verified are kept and reused by the next pull.
import { Field, InvalidInput } from '../util/check.js';
import { parseImageConfig, parseIndex, parseManifest } from './oci/validate.js';
import { CONFIG_TYPES, INDEX_TYPES, MANIFEST_TYPES, MediaType, layerCompression, type Descriptor, type Platform } from './oci/types.js';
import { formatReference, parseReference, type Reference } from './reference.js';
import { RegistryClient, type ClientOptions } from './registry/client.js';
import { getCredentials } from './registry/credentials.js';
import { chainIDs } from './snapshots.js';
import { parseDigest } from './content.js';
import type { ImageRecord, ImageStore } from './store.js';

export interface PullOptions extends ClientOptions {
  platform?: string;
  /** Called as layers move: one event per change. */
  progress?: (e: ProgressEvent) => void;
  /** How many layers download at once. */
  parallel?: number;
}

export type ProgressEvent =
  | { layer: string; status: 'exists' | 'waiting' | 'done'; size: number }
  | { layer: string; status: 'downloading'; bytes: number; size: number };

/** Each status in docker's words, as its pull stream and CLI show it. */
export const PROGRESS_WORDS: Record<ProgressEvent['status'], string> = { exists: 'Already exists', waiting: 'Pulling fs layer', done: 'Pull complete', downloading: 'Downloading' };

export interface PullResult { image: ImageRecord; digest: string; downloaded: number; unpacked: number }

export function parsePlatform(p: string | undefined): Platform {
  if (!p) return { os: 'linux', architecture: hostArch() };
  const [os, architecture, variant, ...more] = p.split('/');
  if (!os || !architecture || more.length) throw new InvalidInput('--platform', `"${p}" is not os/arch[/variant]`);
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/** The host's architecture as Go (and the image spec) names it. */
export function hostArch(): string {
  const m: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return m[process.arch] ?? process.arch;
}

function pickManifest(manifests: Descriptor[], want: Platform, ref: string): Descriptor {
  const hit = manifests.find((m) => m.platform && m.platform.os === want.os && m.platform.architecture === want.architecture &&
    (!want.variant || m.platform.variant === want.variant) && MANIFEST_TYPES.includes(m.mediaType));
  if (hit) return hit;
  const have = manifests.filter((m) => m.platform).map((m) => `${m.platform!.os}/${m.platform!.architecture}${m.platform!.variant ? `/${m.platform!.variant}` : ''}`);
  throw new InvalidInput(ref, `no image for ${want.os}/${want.architecture}${want.variant ? `/${want.variant}` : ''} (the index has: ${have.join(', ') || 'none'})`);
}

/** Runs `jobs` with at most `n` at a time; the first failure wins, the rest are awaited. */
async function limited<T>(n: number, jobs: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0, failure: unknown;
  const worker = async () => {
    while (next < jobs.length && failure === undefined) {
      const i = next++;
      try { out[i] = await jobs[i]!(); } catch (e) { failure ??= e; }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, jobs.length) }, worker));
  if (failure !== undefined) throw failure;
  return out;
}

export async function pull(store: ImageStore, refText: string, opts: PullOptions = {}): Promise<PullResult> {
  const ref: Reference = parseReference(refText);
  const name = formatReference(ref);
  const repo = ref.repository;
  const clientOpts = { ...opts, credentials: opts.credentials ?? getCredentials(ref.registry) };
  const clients = RegistryClient.withMirrors(ref.registry, clientOpts);
  // the first endpoint that answers for the manifest serves the whole pull
  let client: RegistryClient | undefined, top: Awaited<ReturnType<RegistryClient['manifest']>> | undefined, lastErr: unknown;
  for (const c of clients) {
    try { top = await c.manifest(repo, ref.digest ?? ref.tag ?? 'latest'); client = c; break; } catch (e) { lastErr = e; }
  }
  if (!client || !top) throw lastErr;

  let indexDigest: string | undefined;
  let manifestBody = top.body, manifestDigest = top.digest, manifestType = top.mediaType;
  if (INDEX_TYPES.includes(top.mediaType)) {
    const index = parseIndex(new Field('index', JSON.parse(top.body.toString())));
    const chosen = pickManifest(index.manifests, parsePlatform(opts.platform), name);
    const m = await client.manifest(repo, chosen.digest);
    if (m.body.length !== chosen.size) throw new InvalidInput(`${repo}@${chosen.digest}`, `manifest is ${m.body.length} bytes, the index says ${chosen.size}`);
    store.content.writeBuffer(top.body, { digest: top.digest });
    indexDigest = top.digest;
    manifestBody = m.body; manifestDigest = m.digest; manifestType = chosen.mediaType;
  } else if (!MANIFEST_TYPES.includes(top.mediaType)) {
    throw new InvalidInput(name, `unknown manifest media type ${JSON.stringify(top.mediaType)}`);
  }
  const manifest = parseManifest(new Field('manifest', JSON.parse(manifestBody.toString())));
  if (!CONFIG_TYPES.includes(manifest.config.mediaType)) throw new InvalidInput('manifest.config.mediaType', `not an image config: ${JSON.stringify(manifest.config.mediaType)}`);
  for (const [i, l] of manifest.layers.entries()) {
    if (!layerCompression(l.mediaType)) throw new InvalidInput(`manifest.layers[${i}].mediaType`, `unknown layer media type ${JSON.stringify(l.mediaType)}`);
  }

  // config: small, checked, stored first (layers are checked against it)
  if (!store.content.has(manifest.config.digest)) {
    const { stream } = await client.blob(repo, manifest.config.digest);
    await store.content.write(stream, { digest: manifest.config.digest, size: manifest.config.size });
  }
  const config = parseImageConfig(new Field('config', JSON.parse(store.content.read(manifest.config.digest).toString())), manifest.config.mediaType === MediaType.dockerConfig);
  const diffIDs = config.rootfs.diff_ids;
  if (diffIDs.length !== manifest.layers.length) throw new InvalidInput('config.rootfs.diff_ids', `lists ${diffIDs.length} layers, the manifest ${manifest.layers.length}`);
  const chains = chainIDs(diffIDs);

  let downloaded = 0, unpacked = 0;
  const jobs = manifest.layers.map((layer, i) => async () => {
    const chain = chains[i]!, parent = i ? chains[i - 1]! : null;
    const short = layer.digest.slice(layer.digest.indexOf(':') + 1).slice(0, 12);
    if (store.snapshots.has(chain) && store.content.has(layer.digest)) { opts.progress?.({ layer: short, status: 'exists', size: layer.size }); return; }
    opts.progress?.({ layer: short, status: 'waiting', size: layer.size });
    // a blob verified earlier (a pull that died before unpacking) is unpacked from the store
    const local = store.content.has(layer.digest);
    const algorithm = parseDigest(layer.digest).algorithm;
    try {
      const stream = local ? store.content.stream(layer.digest) : (await client!.blob(repo, layer.digest)).stream;
      let bytes = 0, last = 0;
      stream.on('data', (c: Buffer) => {
        bytes += c.length;
        if (bytes - last > 512 * 1024 || bytes === layer.size) { last = bytes; opts.progress?.({ layer: short, status: 'downloading', bytes, size: layer.size }); }
      });
      // verified layers are kept at once, even if another layer fails (the next pull reuses them)
      const r = await store.addLayer(stream, {
        compression: layerCompression(layer.mediaType)!, algorithm, expect: { digest: layer.digest, size: layer.size }, blobStored: local,
        check: (u) => {
          if (u.size !== layer.size) throw new InvalidInput(`layer ${layer.digest}`, `${u.size} bytes arrived, the manifest says ${layer.size}${u.size < layer.size ? ' (truncated)' : ''}`);
          if (u.digest !== layer.digest) throw new InvalidInput(`layer ${layer.digest}`, `content has digest ${u.digest}`);
          if (u.diffID !== diffIDs[i]) throw new InvalidInput(`layer ${layer.digest}`, `uncompressed digest ${u.diffID} is not the config's diff_ids[${i}] ${diffIDs[i]}`);
        },
        place: () => ({ chain, parent }),
      });
      if (!local) downloaded += r.size;
      unpacked += r.unpackedSize;
    } catch (e) {
      throw e instanceof InvalidInput ? e : new InvalidInput(`layer ${layer.digest}`, (e as Error).message);
    } finally {
      opts.progress?.({ layer: short, status: 'done', size: layer.size });
    }
  });
  await limited(opts.parallel ?? 4, jobs);

  store.content.writeBuffer(manifestBody, { digest: manifestDigest });
  const repoDigest = `${ref.registry}/${ref.repository}@${indexDigest ?? manifestDigest}`;
  const image = store.add({
    id: manifest.config.digest, manifest: manifestDigest, manifestMediaType: manifestType, index: indexDigest,
    names: ref.digest && !ref.tag ? [] : [formatReference({ ...ref, digest: undefined })],
    repoDigests: [repoDigest], chainID: chains.length ? chains[chains.length - 1]! : null,
  });
  return { image, digest: indexDigest ?? manifestDigest, downloaded, unpacked };
}
