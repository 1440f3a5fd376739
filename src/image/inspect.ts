// An image as docker's inspect and list show it.
import { familiarName, parseReference } from './reference.js';
import type { ImageRecord, ImageStore } from './store.js';

/** Bytes the image's layers take unpacked. */
export function imageSize(s: ImageStore, i: ImageRecord): number {
  let total = 0;
  for (let c = i.chainID; c; c = s.snapshots.info(c)?.parent ?? null) total += s.snapshots.info(c)?.size ?? 0;
  return total;
}

export function inspectImage(s: ImageStore, i: ImageRecord) {
  const cfg = s.config(i);
  const m = s.manifest(i);
  return {
    Id: i.id,
    RepoTags: i.names.map((n) => { const r = parseReference(n); return `${familiarName(r)}:${r.tag}`; }),
    RepoDigests: i.repoDigests.map((d) => { const r = parseReference(d); return `${familiarName(r)}@${r.digest}`; }),
    Parent: '', Comment: '', Created: cfg.created ?? '', Author: cfg.author ?? '',
    Config: cfg.config ?? {}, Architecture: cfg.architecture, Variant: cfg.variant, Os: cfg.os,
    Size: imageSize(s, i),
    RootFS: { Type: 'layers', Layers: cfg.rootfs.diff_ids },
    Metadata: { LastTagTime: i.added },
    Descriptor: { mediaType: i.manifestMediaType, digest: i.manifest, size: s.content.size(i.manifest) },
    GraphDriver: { Name: s.snapshots.driver, Data: null },
    Layers: m.layers.map((l) => l.digest),
  };
}

