// Push: the blobs the registry lacks (a HEAD says which), mounted from
// another repository of the same registry where the image came from there,
// else uploaded whole or in chunks; the config; then the manifest exactly as
// stored, so the registry's digest is the one berth has.
import { InvalidInput } from '../util/check.js';
import { formatReference, parseReference } from './reference.js';
import { RegistryClient, type ClientOptions } from './registry/client.js';
import { getCredentials } from './registry/credentials.js';
import type { ImageStore } from './store.js';

export interface PushOptions extends ClientOptions {
  /** Upload blobs larger than this in PATCH chunks of this size (0: always whole). */
  chunkSize?: number;
  progress?: (layer: string, status: 'exists' | 'mounted' | 'uploaded' | 'pushing', from?: string) => void;
}

export async function push(store: ImageStore, refText: string, opts: PushOptions = {}): Promise<{ digest: string; size: number; tag: string }> {
  const ref = parseReference(refText);
  if (ref.digest) throw new InvalidInput(refText, 'push a name with a tag, not a digest');
  const img = store.resolve(refText);
  const client = new RegistryClient(ref.registry, { ...opts, credentials: opts.credentials ?? getCredentials(ref.registry) });
  const manifest = store.manifest(img);
  // another repository of this registry that already has the blobs
  const from = img.repoDigests.map((d) => parseReference(d)).find((r) => r.registry === ref.registry && r.repository !== ref.repository)?.repository;
  const blobs = [...manifest.layers, manifest.config];
  for (const b of blobs) {
    if (!store.content.has(b.digest)) throw new InvalidInput(b.digest, `blob of ${formatReference(ref)} is not in the store (the image was loaded without it)`);
    const short = b.digest.slice(b.digest.indexOf(':') + 1).slice(0, 12);
    opts.progress?.(short, 'pushing');
    const how = await client.pushBlob(ref.repository, b.digest, b.size, () => store.content.stream(b.digest), { mountFrom: from, chunkSize: opts.chunkSize });
    opts.progress?.(short, how, from);
  }
  const body = store.content.read(img.manifest);
  const tag = ref.tag ?? 'latest';
  const digest = await client.putManifest(ref.repository, tag, body, img.manifestMediaType);
  if (digest !== img.manifest) throw new InvalidInput(refText, `the registry computed ${digest} for manifest ${img.manifest}`);
  store.update((images) => {
    const cur = images.find((i) => i.id === img.id);
    const rd = `${ref.registry}/${ref.repository}@${digest}`;
    if (cur && !cur.repoDigests.includes(rd)) cur.repoDigests.push(rd);
  });
  return { digest, size: body.length, tag };
}
