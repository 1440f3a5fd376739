// Validation of OCI image-spec documents (and Docker schema2, which has the
// same shape): the rules of image-spec's JSON schemas plus the checks its
// validator adds (digest encodings, Env entries, strict base64). Every
// failure names the field. Unknown fields are allowed, as the schemas allow them.
import { Field, InvalidInput } from '../../util/check.js';
import { CONFIG_TYPES, INDEX_TYPES, MANIFEST_TYPES, MediaType, type Descriptor, type ImageConfig, type Index, type Manifest, type Platform } from './types.js';

const MEDIA_TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
const DIGEST_RE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const ENCODED: Record<string, RegExp> = { sha256: /^[a-f0-9]{64}$/, sha384: /^[a-f0-9]{96}$/, sha512: /^[a-f0-9]{128}$/ };
const URI_RE = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$/;
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// RFC 3339 date-time, as JSON schema's "date-time" format
const DATE_TIME_RE = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

/** Checks a digest string: the OCI grammar, and the exact encoding of registered algorithms. */
export function checkDigest(f: Field): string {
  const d = f.string();
  if (!DIGEST_RE.test(d)) f.fail(`not a digest ("algorithm:encoded"): ${JSON.stringify(d)}`);
  const [alg, enc] = [d.slice(0, d.indexOf(':')), d.slice(d.indexOf(':') + 1)];
  const re = ENCODED[alg];
  if (re && !re.test(enc)) f.fail(`a ${alg} digest needs ${re.source.match(/\{(\d+)\}/)![1]} lower-case hex digits: ${JSON.stringify(d)}`);
  return d;
}

const opt = <T>(f: Field, read: (f: Field) => T): T | undefined => (f.exists ? read(f) : undefined);

function mediaType(f: Field): string {
  const s = f.string();
  if (!MEDIA_TYPE_RE.test(s)) f.fail(`not a media type: ${JSON.stringify(s)}`);
  return s;
}

function size(f: Field, min = 0): number {
  return f.int(min, Number.MAX_VALUE);
}

function annotations(f: Field): Record<string, string> {
  const o = f.object();
  for (const k of Object.keys(o)) if (k !== '') f.at(k).string();
  return o as Record<string, string>;
}

function stringArray(f: Field): string[] {
  return f.array().map((x) => x.string());
}

function dateTime(f: Field): string {
  const s = f.string();
  if (!DATE_TIME_RE.test(s) || Number.isNaN(Date.parse(s))) f.fail(`not an RFC 3339 date-time: ${JSON.stringify(s)}`);
  return s;
}

function platform(f: Field): Platform {
  f.object();
  return {
    architecture: f.at('architecture').string(),
    os: f.at('os').string(),
    'os.version': opt(f.at('os.version'), (x) => x.string()),
    'os.features': opt(f.at('os.features'), stringArray),
    variant: opt(f.at('variant'), (x) => x.string()),
  };
}

export function parseDescriptor(f: Field, inIndex = false): Descriptor {
  f.object();
  const d: Descriptor = {
    mediaType: mediaType(f.at('mediaType')),
    digest: checkDigest(f.at('digest')),
    size: size(f.at('size'), inIndex ? Number.MIN_SAFE_INTEGER : 0),
  };
  const urls = opt(f.at('urls'), (x) => x.array().map((u) => {
    const s = u.string();
    if (!URI_RE.test(s)) u.fail(`not a URI: ${JSON.stringify(s)}`);
    return s;
  }));
  if (urls) d.urls = urls;
  const data = opt(f.at('data'), (x) => {
    const s = x.string();
    if (!BASE64_RE.test(s)) x.fail('not base64 (standard alphabet, with padding)');
    return s;
  });
  if (data !== undefined) d.data = data;
  const at = opt(f.at('artifactType'), mediaType);
  if (at) d.artifactType = at;
  const a = opt(f.at('annotations'), annotations);
  if (a) d.annotations = a;
  const p = inIndex ? opt(f.at('platform'), platform) : undefined;
  if (p) d.platform = p;
  return d;
}

function schemaVersion(f: Field): 2 {
  f.int(2, 2);
  return 2;
}

export function parseManifest(f: Field): Manifest {
  f.object();
  const layers = f.at('layers').array();
  if (layers.length === 0) f.at('layers').fail('must list at least one layer');
  return {
    schemaVersion: schemaVersion(f.at('schemaVersion')),
    mediaType: opt(f.at('mediaType'), mediaType),
    artifactType: opt(f.at('artifactType'), mediaType),
    config: parseDescriptor(f.at('config')),
    layers: layers.map((l) => parseDescriptor(l)),
    subject: opt(f.at('subject'), (x) => parseDescriptor(x)),
    annotations: opt(f.at('annotations'), annotations),
  };
}

export function parseIndex(f: Field): Index {
  f.object();
  return {
    schemaVersion: schemaVersion(f.at('schemaVersion')),
    mediaType: opt(f.at('mediaType'), mediaType),
    artifactType: opt(f.at('artifactType'), mediaType),
    manifests: f.at('manifests').array().map((m) => parseDescriptor(m, true)),
    subject: opt(f.at('subject'), (x) => parseDescriptor(x)),
    annotations: opt(f.at('annotations'), annotations),
  };
}

function objectMap(f: Field): Record<string, object> {
  const o = f.object();
  for (const k of Object.keys(o)) if (k !== '') f.at(k).object();
  return o as Record<string, object>;
}

const orNull = <T>(read: (f: Field) => T) => (f: Field): T | null => (f.value === null ? null : read(f));

/**
 * `docker`: Docker's own image format (application/vnd.docker.container.image.v1+json,
 * docker save) writes null for absent lists and maps ("Env": null); OCI does not allow that.
 */
export function parseImageConfig(f: Field, docker = false): ImageConfig {
  f.object();
  const opt = <T>(x: Field, read: (x: Field) => T): T | undefined => (x.exists && !(docker && x.value === null) ? read(x) : undefined);
  const c = f.at('config');
  const rootfs = f.at('rootfs');
  rootfs.object();
  const type = rootfs.at('type').string();
  if (type !== 'layers') rootfs.at('type').fail(`must be "layers", got ${JSON.stringify(type)}`);
  return {
    created: opt(f.at('created'), dateTime),
    author: opt(f.at('author'), (x) => x.string()),
    architecture: f.at('architecture').string(),
    os: f.at('os').string(),
    variant: opt(f.at('variant'), (x) => x.string()),
    'os.version': opt(f.at('os.version'), (x) => x.string()),
    'os.features': opt(f.at('os.features'), stringArray),
    config: opt(c, (cf) => {
      cf.object();
      const env = opt(cf.at('Env'), (e) => e.array().map((x) => {
        const s = x.string();
        if (!/^[^=]+=/.test(s)) x.fail(`must be NAME=VALUE, got ${JSON.stringify(s)}`);
        return s;
      }));
      return {
        ...(cf.value as object),
        User: opt(cf.at('User'), (x) => x.string()),
        ExposedPorts: opt(cf.at('ExposedPorts'), objectMap),
        Env: env,
        Entrypoint: opt(cf.at('Entrypoint'), orNull(stringArray)),
        Cmd: opt(cf.at('Cmd'), orNull(stringArray)),
        Volumes: opt(cf.at('Volumes'), orNull(objectMap)),
        WorkingDir: opt(cf.at('WorkingDir'), (x) => x.string()),
        Labels: opt(cf.at('Labels'), orNull(annotations)),
        StopSignal: opt(cf.at('StopSignal'), (x) => x.string()),
        ArgsEscaped: opt(cf.at('ArgsEscaped'), (x) => x.bool()),
      };
    }),
    rootfs: { type: 'layers', diff_ids: rootfs.at('diff_ids').array().map((x) => x.string()) },
    history: opt(f.at('history'), (h) => h.array().map((e) => {
      e.object();
      return {
        created: opt(e.at('created'), dateTime),
        author: opt(e.at('author'), (x) => x.string()),
        created_by: opt(e.at('created_by'), (x) => x.string()),
        comment: opt(e.at('comment'), (x) => x.string()),
        empty_layer: opt(e.at('empty_layer'), (x) => x.bool()),
      };
    })),
  };
}

export function parseLayoutHeader(f: Field): { imageLayoutVersion: '1.0.0' } {
  f.object();
  const v = f.at('imageLayoutVersion').string();
  if (v !== '1.0.0') f.at('imageLayoutVersion').fail(`unsupported version ${JSON.stringify(v)} (berth reads 1.0.0)`);
  return { imageLayoutVersion: '1.0.0' };
}

export type Document =
  | { kind: 'manifest'; value: Manifest }
  | { kind: 'index'; value: Index }
  | { kind: 'config'; value: ImageConfig }
  | { kind: 'descriptor'; value: Descriptor }
  | { kind: 'layout'; value: { imageLayoutVersion: '1.0.0' } };

const NAMES: [readonly string[], string][] = [[MANIFEST_TYPES, 'manifest'], [INDEX_TYPES, 'index'], [CONFIG_TYPES, 'config'], [[MediaType.ociDescriptor], 'descriptor'], [[MediaType.ociLayoutHeader], 'oci-layout']];

/** Parses and validates `text` as a document of `mediaType`; `what` names it in errors. */
export function parseDocument(mediaType: string, text: string | Buffer, what = NAMES.find(([t]) => t.includes(mediaType))?.[1] ?? 'document'): Document {
  let json: unknown;
  try { json = JSON.parse(text.toString()); } catch (e) { throw new InvalidInput(what, `not valid JSON: ${(e as Error).message}`); }
  const f = new Field(what, json);
  if (MANIFEST_TYPES.includes(mediaType)) return { kind: 'manifest', value: parseManifest(f) };
  if (INDEX_TYPES.includes(mediaType)) return { kind: 'index', value: parseIndex(f) };
  if (CONFIG_TYPES.includes(mediaType)) return { kind: 'config', value: parseImageConfig(f, mediaType === MediaType.dockerConfig) };
  if (mediaType === MediaType.ociDescriptor) return { kind: 'descriptor', value: parseDescriptor(f) };
  if (mediaType === MediaType.ociLayoutHeader) return { kind: 'layout', value: parseLayoutHeader(f) };
  throw new InvalidInput(what, `unknown media type ${JSON.stringify(mediaType)}`);
}
