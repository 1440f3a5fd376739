// OCI documents against image-spec's own test vectors and spec examples
// (../shared/corpus): berth accepts exactly what image-spec's validator accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { corpusDir } from './helpers/env.js';

const CORPUS = corpusDir();
import { parseDocument } from '../src/image/oci/validate.js';

const DOCKER_TO_OCI: [string, string][] = [
  ['application/vnd.docker.distribution.manifest.list.v2+json', 'application/vnd.oci.image.index.v1+json'],
  ['application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.oci.image.manifest.v1+json'],
  ['application/vnd.docker.image.rootfs.diff.tar.gzip', 'application/vnd.oci.image.layer.v1.tar+gzip'],
  ['application/vnd.docker.container.image.v1+json', 'application/vnd.oci.image.config.v1+json'],
];

interface Vector { test: string; index: number; validatorMediaType: string; expectFail: boolean; body: string; digest?: string; convertDockerMediaTypes?: boolean }

test('image-spec schema vectors: each passes or fails as upstream expects', () => {
  const vectors = JSON.parse(readFileSync(join(CORPUS, 'oci-image-spec-vectors', 'schema-test-vectors.json'), 'utf8')) as Vector[];
  assert.equal(vectors.length, 71);
  const wrong: string[] = [];
  for (const v of vectors) {
    let body = v.body;
    if (v.digest) assert.equal(`sha256:${createHash('sha256').update(body).digest('hex')}`, v.digest, `${v.test}#${v.index} digest`);
    if (v.convertDockerMediaTypes) for (const [d, o] of DOCKER_TO_OCI) body = body.split(d).join(o);
    let error: string | undefined;
    try { parseDocument(v.validatorMediaType, body); } catch (e) { error = (e as Error).message; }
    if (v.expectFail !== (error !== undefined)) wrong.push(`${v.test}#${v.index}: expected ${v.expectFail ? 'failure' : 'success'}, got ${error ?? 'success'}`);
  }
  assert.deepEqual(wrong, []);
});

test('image-spec markdown examples all validate', () => {
  const examples = JSON.parse(readFileSync(join(CORPUS, 'oci-image-spec-vectors', 'spec-markdown-examples.json'), 'utf8')) as { title: string; mediaType: string; body: string; expectFail: boolean }[];
  assert.equal(examples.length, 13);
  for (const e of examples) {
    let error: string | undefined;
    try { parseDocument(e.mediaType, e.body); } catch (err) { error = (err as Error).message; }
    assert.equal(error !== undefined, e.expectFail, `${e.title}: ${error}`);
  }
});

test('errors name the field and the problem', () => {
  const m = (o: unknown) => () => parseDocument('application/vnd.oci.image.manifest.v1+json', JSON.stringify(o));
  const desc = { mediaType: 'application/vnd.oci.image.config.v1+json', size: 7, digest: `sha256:${'a'.repeat(64)}` };
  assert.throws(m({ schemaVersion: 2, config: desc, layers: [] }), /^InvalidInput: manifest\.layers: must list at least one layer$/);
  assert.throws(m({ schemaVersion: 2, config: { ...desc, digest: 'sha256:abc' }, layers: [desc] }), /manifest\.config\.digest: a sha256 digest needs 64 lower-case hex digits/);
  assert.throws(m({ schemaVersion: 2, config: desc, layers: [{ ...desc, size: '7' }] }), /manifest\.layers\[0\]\.size: must be an integer, got string "7"/);
  assert.throws(() => parseDocument('application/vnd.oci.image.manifest.v1+json', '{"schemaVersion": 2,'), /manifest: not valid JSON/);
  assert.throws(() => parseDocument('application/x-unknown', '{}'), /unknown media type "application\/x-unknown"/);
});
