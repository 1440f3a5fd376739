// What a registry says of an image without pulling it: the descriptor of the
// manifest (or index) a name points to and the platforms it has, as
// dockerd's GET /distribution/NAME/json answers; a registry's search API;
// and a login's check.
import { Field, InvalidInput } from '../util/check.js';
import { parseIndex, parseManifest } from './oci/validate.js';
import { INDEX_TYPES, MANIFEST_TYPES, type Platform } from './oci/types.js';
import { parseReference } from './reference.js';
import { RegistryClient, RegistryError, type ClientOptions } from './registry/client.js';
import { getCredentials } from './registry/credentials.js';
import { digestOf, parseDigest, verify } from './content.js';

export interface DistributionInspect {
  Descriptor: { mediaType: string; digest: string; size: number };
  Platforms: Platform[];
}

export async function distributionInspect(refText: string, opts: ClientOptions = {}): Promise<DistributionInspect> {
  const ref = parseReference(refText);
  const client = new RegistryClient(ref.registry, { ...opts, credentials: opts.credentials ?? getCredentials(ref.registry) });
  const top = await client.manifest(ref.repository, ref.digest ?? ref.tag ?? 'latest');
  const Descriptor = { mediaType: top.mediaType, digest: top.digest, size: top.body.length };
  if (INDEX_TYPES.includes(top.mediaType)) {
    const index = parseIndex(new Field('index', JSON.parse(top.body.toString())));
    return { Descriptor, Platforms: index.manifests.filter((m) => m.platform).map((m) => m.platform!) };
  }
  if (!MANIFEST_TYPES.includes(top.mediaType)) throw new InvalidInput(refText, `unknown manifest media type ${JSON.stringify(top.mediaType)}`);
  // a single manifest: its platform is its config's, as dockerd reads it
  const manifest = parseManifest(new Field('manifest', JSON.parse(top.body.toString())));
  const blob = await client.blob(ref.repository, manifest.config.digest);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of blob.stream) {
    size += (c as Buffer).length;
    if (size > manifest.config.size) { blob.stream.destroy(); break; }
    chunks.push(c as Buffer);
  }
  // what the registry sent is taken only as what the manifest names (nothing past its size is read)
  const body = Buffer.concat(chunks);
  verify(manifest.config, digestOf(body, parseDigest(manifest.config.digest).algorithm), size);
  const cfg = JSON.parse(body.toString()) as { os?: string; architecture?: string; variant?: string };
  const platform: Platform = { architecture: cfg.architecture ?? '', os: cfg.os ?? '' };
  if (cfg.variant) platform.variant = cfg.variant;
  return { Descriptor, Platforms: [platform] };
}

export interface SearchResult { name: string; description: string; star_count: number; is_official: boolean; is_automated: boolean }

/**
 * A registry's search (the v1 search API that Docker Hub serves): `term`
 * may name the registry first ("127.0.0.1:5000/busy"), as with docker.
 * A registry without the API answers 404, which is named.
 */
export async function searchRegistry(term: string, limit: number, opts: ClientOptions = {}): Promise<SearchResult[]> {
  const slash = term.indexOf('/');
  const first = slash > 0 ? term.slice(0, slash) : '';
  const registry = /[.:]/.test(first) || first === 'localhost' ? first : 'docker.io';
  const q = registry === 'docker.io' ? term : term.slice(slash + 1);
  const client = new RegistryClient(registry, opts, registry === 'docker.io' ? 'https://index.docker.io' : undefined);
  const res = await client.request('GET', `/v1/search?q=${encodeURIComponent(q)}&n=${limit}`, { scope: '', ok: [404] });
  if (res.status === 404) throw new RegistryError(404, `${registry}: the registry does not offer search (GET /v1/search answered 404)`);
  const body = await res.json() as { results?: Partial<SearchResult>[] };
  return (body.results ?? []).slice(0, limit).map((r) => ({
    name: r.name ?? '', description: r.description ?? '', star_count: r.star_count ?? 0, is_official: !!r.is_official, is_automated: !!r.is_automated,
  }));
}

/** Whether `opts.credentials` are good at `registry` (a GET /v2/ with them): throws the registry's refusal (401 as unauthorized). */
export async function loginCheck(registry: string, opts: ClientOptions): Promise<void> {
  const client = new RegistryClient(registry, opts);
  try {
    const res = await client.request('GET', '/v2/', { scope: '' });
    await res.body?.cancel();
  } catch (e) {
    // dockerd's words, which the docker CLI prints
    if (e instanceof RegistryError && e.status === 401) throw new RegistryError(401, `login attempt to ${client.endpoint}/v2/ failed with status: 401 Unauthorized`);
    throw e;
  }
}
