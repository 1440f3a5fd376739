// The oldest `docker save` format (docker before 1.10, and v1 tools): no
// manifest.json, only a directory per layer (`ID/json`, `ID/layer.tar`,
// `ID/VERSION`) chained by `parent`, and a `repositories` file naming the
// top layers. dockerd still loads it; each named top layer becomes one
// image whose config is made from the v1 JSON, as dockerd's legacy load
// makes it, with the diffIDs hashed from the layer tars.
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { InvalidInput } from '../util/check.js';
import { formatReference, parseReference } from './reference.js';
import type { Candidate } from './archive.js';

interface V1Layer { id: string; parent?: string; created?: string; author?: string; architecture?: string; os?: string; config?: unknown; container_config?: { Cmd?: string[] | null }; comment?: string }

const ID = /^[0-9a-f]{64}$/;

function readLayer(dir: string, id: string): V1Layer {
  if (!ID.test(id)) throw new InvalidInput('repositories', `"${id}" is not a layer ID`);
  const f = join(dir, id, 'json');
  if (!existsSync(f)) throw new InvalidInput(`${id}/json`, 'is missing from the archive');
  let j: V1Layer;
  try { j = JSON.parse(readFileSync(f, 'utf8')) as V1Layer; } catch (e) { throw new InvalidInput(`${id}/json`, `not valid JSON: ${(e as Error).message}`); }
  if (j.id !== id) throw new InvalidInput(`${id}/json`, `names the layer "${j.id}"`);
  return j;
}

function sha256File(path: string): string {
  const h = createHash('sha256'), buf = Buffer.allocUnsafe(1 << 20), fd = openSync(path, 'r');
  try { for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n)); } finally { closeSync(fd); }
  return `sha256:${h.digest('hex')}`;
}

/** The images of a legacy archive extracted in `dir`, or undefined when it has no `repositories` file. */
export function legacyCandidates(dir: string): Candidate[] | undefined {
  const reposFile = join(dir, 'repositories');
  if (!existsSync(reposFile)) return undefined;
  let repos: Record<string, Record<string, string>>;
  try { repos = JSON.parse(readFileSync(reposFile, 'utf8')) as Record<string, Record<string, string>>; } catch (e) { throw new InvalidInput('repositories', `not valid JSON: ${(e as Error).message}`); }
  const names = new Map<string, string[]>();
  for (const [repo, tags] of Object.entries(repos)) {
    for (const [tag, id] of Object.entries(tags ?? {})) names.set(id, [...(names.get(id) ?? []), formatReference(parseReference(`${repo}:${tag}`))]);
  }
  return [...names].map(([top, refs]) => {
    const chain: V1Layer[] = [];
    for (let id: string | undefined = top; id; id = chain[chain.length - 1]!.parent) {
      if (chain.length > 500 || chain.some((l) => l.id === id)) throw new InvalidInput('repositories', `the layers of ${top} do not end`);
      chain.push(readLayer(dir, id));
    }
    chain.reverse();
    const layers = chain.map((l) => join(dir, l.id, 'layer.tar'));
    for (const [i, p] of layers.entries()) if (!existsSync(p)) throw new InvalidInput(`${chain[i]!.id}/layer.tar`, 'is missing from the archive');
    const img = chain[chain.length - 1]!;
    const config = {
      architecture: img.architecture ?? 'amd64', os: img.os ?? 'linux', created: img.created, author: img.author, config: img.config ?? {},
      rootfs: { type: 'layers', diff_ids: layers.map(sha256File) },
      history: chain.map((l) => ({ created: l.created, created_by: (l.container_config?.Cmd ?? []).join(' '), ...(l.author ? { author: l.author } : {}), ...(l.comment ? { comment: l.comment } : {}) })),
    };
    return { names: refs, config: Buffer.from(JSON.stringify(config)), layers, dockerConfig: true };
  });
}
