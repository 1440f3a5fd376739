// Image references as docker reads them: [registry[:port]/]repo/path[:tag][@digest].
// A name without a registry is on Docker Hub (docker.io), and a one-part
// Hub name is under library/.
import { InvalidInput } from '../util/check.js';
import { checkDigest } from './oci/validate.js';
import { Field } from '../util/check.js';

export const DEFAULT_REGISTRY = 'docker.io';
export const DEFAULT_TAG = 'latest';

export interface Reference {
  /** Registry host[:port] as written (docker.io for Hub). */
  registry: string;
  /** Repository path within the registry (library/busybox). */
  repository: string;
  tag?: string;
  digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$/;

export function parseReference(text: string): Reference {
  const bad = (why: string): never => { throw new InvalidInput('reference', `${JSON.stringify(text)}: ${why}`); };
  if (text === '') bad('is empty');
  let rest = text, digest: string | undefined, tag: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = checkDigest(new Field('reference digest', rest.slice(at + 1)));
    rest = rest.slice(0, at);
  }
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    if (!TAG.test(tag)) bad(`invalid tag ${JSON.stringify(tag)}`);
    rest = rest.slice(0, colon);
  }
  const parts = rest.split('/');
  let registry = DEFAULT_REGISTRY;
  const first = parts[0]!;
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    if (!DOMAIN.test(first)) bad(`invalid registry ${JSON.stringify(first)}`);
    registry = first;
    parts.shift();
  }
  for (const p of parts) {
    if (p === '') bad('has an empty path component');
    if (p !== p.toLowerCase()) bad('repository name must be lowercase');
    if (!COMPONENT.test(p)) bad(`invalid repository component ${JSON.stringify(p)}`);
  }
  let repository = parts.join('/');
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DEFAULT_REGISTRY;
  if (registry === DEFAULT_REGISTRY && parts.length === 1) repository = `library/${repository}`;
  if (`${registry}/${repository}`.length > 255) bad('name is longer than 255 characters');
  return { registry, repository, tag, digest };
}

/** Canonical name: docker.io/library/busybox:latest, or with @digest. */
export function formatReference(r: Reference, opts: { defaultTag?: boolean } = {}): string {
  const tag = r.tag ?? (r.digest || opts.defaultTag === false ? undefined : DEFAULT_TAG);
  return `${r.registry}/${r.repository}${tag ? `:${tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** The short form docker shows: busybox:latest, not docker.io/library/busybox:latest. */
export function familiarName(r: Reference): string {
  let name = `${r.registry}/${r.repository}`;
  if (r.registry === DEFAULT_REGISTRY) name = r.repository.startsWith('library/') ? r.repository.slice(8) : r.repository;
  return name;
}

/** The tag a pull of `r` shows: its own, or "latest" unless it names a digest alone. */
export const pullTag = (r: Reference): string | undefined => r.tag ?? (r.digest ? undefined : DEFAULT_TAG);

/** What a pull of `r` got, as docker's "Status: ... for NAME" and its pull event name it. */
export function pulledName(r: Reference): string {
  const tag = pullTag(r);
  return `${familiarName(r)}${tag ? `:${tag}` : `@${r.digest}`}`;
}

/** A stored name or name@digest as docker prints it: busybox:latest, 127.0.0.1:5000/x@sha256:... */
export function shortReference(text: string): string {
  const r = parseReference(text);
  return `${familiarName(r)}${r.digest ? `@${r.digest}` : `:${r.tag ?? DEFAULT_TAG}`}`;
}
