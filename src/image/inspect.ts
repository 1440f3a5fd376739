// An image as docker's inspect and list show it.
import { familiarName, parseReference, shortReference } from './reference.js';
import { InvalidInput } from '../util/check.js';
import { chainIDs } from './snapshots.js';
import type { ImageRecord, ImageStore } from './store.js';

/** The chain IDs of the layers under `top`, top first. */
export function layerChain(s: ImageStore, top: string | null): string[] {
  const out: string[] = [];
  for (let c = top; c; c = s.snapshots.info(c)?.parent ?? null) out.push(c);
  return out;
}

/** Bytes these layers take unpacked (all of an image's, by default). */
export function imageSize(s: ImageStore, i: ImageRecord, layers = layerChain(s, i.chainID)): number {
  return layers.reduce((n, c) => n + (s.snapshots.info(c)?.size ?? 0), 0);
}

/** An image as GET /images/json lists it; `containers`: how many use it (-1: not counted). */
export function imageSummary(s: ImageStore, i: ImageRecord, containers = -1) {
  const cfg = s.config(i);
  const size = imageSize(s, i);
  return {
    Id: i.id, ParentId: i.parent ?? '', RepoTags: i.names.map(shortReference), RepoDigests: i.repoDigests.map(shortReference), Created: Math.floor(Date.parse(cfg.created ?? i.added) / 1000),
    Size: size, SharedSize: -1, VirtualSize: size, Labels: cfg.config?.Labels ?? null, Containers: containers,
  };
}

/** An image config's runtime part as dockerd shows it when a field is unset. */
const ZERO_CONFIG = {
  Hostname: '', Domainname: '', User: '', AttachStdin: false, AttachStdout: false, AttachStderr: false, Tty: false, OpenStdin: false, StdinOnce: false,
  Env: null, Cmd: null, Image: '', Volumes: null, WorkingDir: '', Entrypoint: null, OnBuild: null, Labels: null,
};

export function inspectImage(s: ImageStore, i: ImageRecord) {
  const cfg = s.config(i);
  const m = s.manifest(i);
  const size = imageSize(s, i);
  return {
    Id: i.id,
    RepoTags: i.names.map(shortReference),
    RepoDigests: i.repoDigests.map(shortReference),
    Parent: i.parent ?? '', Comment: '', Created: cfg.created ?? '', Author: cfg.author ?? '',
    // dockerd's full shape, zero where the image has nothing; Container, ContainerConfig, DockerVersion and VirtualSize are what API 1.43 and older clients read
    Container: '', ContainerConfig: { ...ZERO_CONFIG, Env: null, Cmd: null }, DockerVersion: (cfg as { docker_version?: string }).docker_version ?? '',
    Config: { ...ZERO_CONFIG, ...Object.fromEntries(Object.entries(cfg.config ?? {}).filter(([, v]) => v !== undefined)) }, Architecture: cfg.architecture, Variant: cfg.variant, Os: cfg.os,
    Size: size, VirtualSize: size,
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

/**
 * docker's image list: `filters` as the API takes them (values of one key
 * are alternatives, keys must all hold: dangling, reference, label, before,
 * since), newest first, as dockerd lists them.
 */
export function listImages(s: ImageStore, filters: Record<string, string[]>, field = 'filters', all = false): ImageRecord[] {
  const all_ = s.list();
  // a build's intermediate images (untagged, with a child) are listed only when all are asked for, as docker lists them
  const parents = new Set(all_.map((i) => i.parent).filter(Boolean));
  const intermediate = (i: ImageRecord) => i.names.length === 0 && parents.has(i.id);
  let images = all ? all_ : all_.filter((i) => !intermediate(i));
  for (const [k, values] of Object.entries(filters)) {
    const keep = (i: ImageRecord, v: string): boolean => {
      if (k === 'dangling') return (i.names.length === 0 && !intermediate(i)) === (v === 'true' || v === '1');
      if (k === 'reference') {
        const re = new RegExp(`^${v.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '.')}$`);
        return i.names.some((n) => { const r = parseReference(n); return re.test(`${familiarName(r)}:${r.tag}`) || re.test(familiarName(r)); });
      }
      if (k === 'label') {
        const [lk, lv] = v.split('=');
        const l = s.config(i).config?.Labels ?? {};
        return lk! in l && (lv === undefined || l[lk!] === lv);
      }
      if (k === 'before' || k === 'since') {
        const pivot = s.resolve(v);
        return k === 'before' ? i.added < pivot.added : i.added > pivot.added;
      }
      throw new InvalidInput(field, `unknown filter "${k}" (dangling, reference, label, before, since)`);
    };
    images = images.filter((i) => values.some((v) => keep(i, v)));
  }
  const created = (i: ImageRecord) => s.config(i).created ?? i.added;
  return images.sort((a, b) => (created(b) > created(a) ? 1 : created(b) < created(a) ? -1 : b.added > a.added ? 1 : -1));
}
