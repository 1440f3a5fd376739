// The events docker emits for image changes, derived from what a store
// operation returned. berthd's API and the berth CLI (which changes the store
// itself and then tells berthd, see cli/images.ts) emit the same ones.
import type { ImageRecord } from './store.js';
import { shortReference } from './reference.js';

export interface ImageEvent { action: string; id: string; attributes: Record<string, string> }

/** The actions an image event may have: what berthd accepts from the berth CLI. */
export const IMAGE_ACTIONS = new Set(['pull', 'push', 'tag', 'untag', 'delete', 'import', 'load', 'save', 'prune']);

const ev = (action: string, id: string, attributes: Record<string, string>): ImageEvent => ({ action, id, attributes });

/** pull and push name the reference, not the image. */
export const pulledEvents = (name: string) => [ev('pull', name, { name })];
export const pushedEvents = (name: string) => [ev('push', name, { name })];

export const taggedEvents = (id: string, name: string) => [ev('tag', id, { name: shortReference(name) })];

export const loadedEvents = (images: ImageRecord[]) => images.map((i) => ev('load', i.id, { name: i.names[0] ? shortReference(i.names[0]) : i.id }));

export const savedEvents = (ids: string[], names: string[]) => names.map((n, i) => ev('save', ids[i]!, { name: n }));

/** An import that named the image tags it first, as dockerd does. */
export const importedEvents = (img: ImageRecord) => [...(img.names[0] ? taggedEvents(img.id, img.names[0]) : []), ev('import', img.id, { name: img.id })];

export const removedEvents = ({ id, ...r }: { id: string; untagged: string[]; deleted: string[] }) => [
  ...r.untagged.map((u) => ev('untag', id, { name: shortReference(u) })),
  ...r.deleted.filter((d) => d === id).map((d) => ev('delete', d, { name: d })),
];

export const prunedEvents = (r: { untagged: { id: string; name: string }[]; images: string[]; reclaimed: number }) => [
  ...r.untagged.map((u) => ev('untag', u.id, { name: shortReference(u.name) })),
  ...r.images.map((id) => ev('delete', id, { name: id })),
  ev('prune', '', { reclaimed: String(r.reclaimed) }),
];
