// An image as docker's inspect and list show it.
import { shortReference } from './reference.js';
import { chainIDs } from './snapshots.js';
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
    RepoTags: i.names.map(shortReference),
    RepoDigests: i.repoDigests.map(shortReference),
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


export interface HistoryLine { created?: string; createdBy: string; comment: string; size: number }

/** The image's history, newest first, with each layer's size unpacked (as docker shows it). */
export function imageHistory(s: ImageStore, i: ImageRecord): HistoryLine[] {
  const cfg = s.config(i);
  const chains = chainIDs(cfg.rootfs.diff_ids);
  let li = (cfg.history ?? []).filter((h) => !h.empty_layer).length - 1;
  return [...(cfg.history ?? [])].reverse().map((h) => ({
    created: h.created, createdBy: h.created_by ?? '', comment: h.comment ?? '',
    size: h.empty_layer ? 0 : s.snapshots.info(chains[li--] ?? '')?.size ?? 0,
  }));
}
