// Image references parse and normalize as docker's do; bad ones are named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseReference, formatReference, familiarName } from '../src/image/reference.js';

test('references normalize like docker', () => {
  const D = `sha256:${'e'.repeat(64)}`;
  const cases: [string, string][] = [
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['user/app', 'docker.io/user/app:latest'],
    ['index.docker.io/library/debian:12', 'docker.io/library/debian:12'],
    ['localhost/app', 'localhost/app:latest'],
    ['127.0.0.1:5000/a/b/c:v1.0-rc_1', '127.0.0.1:5000/a/b/c:v1.0-rc_1'],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`],
    [`reg.example:443/x:t@${D}`, `reg.example:443/x:t@${D}`],
    ['org/a__b.c-d---e', 'docker.io/org/a__b.c-d---e:latest'],
  ];
  for (const [input, want] of cases) assert.equal(formatReference(parseReference(input)), want, input);
  assert.equal(familiarName(parseReference('busybox')), 'busybox');
  assert.equal(familiarName(parseReference('127.0.0.1:5000/x')), '127.0.0.1:5000/x');
});

test('invalid references are refused with the reason', () => {
  const bad: [string, RegExp][] = [
    ['', /is empty/],
    ['Busybox', /must be lowercase/],
    ['busybox:', /invalid tag ""/],
    ['busybox:-x', /invalid tag "-x"/],
    ['a//b', /empty path component/],
    ['a/-b', /invalid repository component "-b"/],
    ['busybox@sha256:123', /sha256 digest needs 64/],
    ['busybox@nope', /not a digest/],
    [`x/${'a'.repeat(260)}`, /longer than 255/],
  ];
  for (const [input, re] of bad) assert.throws(() => parseReference(input), re, input);
});
