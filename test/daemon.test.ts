// berthd judged by the real docker CLI (28.x): version negotiation and the
// image verbs against a registry on loopback; bad requests get docker's error
// shape and the daemon keeps serving.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { PREFIX } from './helpers/env.js';
import { makeRootfs } from './helpers/make-bundle.js';
import { addImage, writeIndex, tarOf, skopeo, startRegistry } from './helpers/oci-image.js';
import { PrivateBerthd } from './helpers/berthd.js';

const work = mkdtempSync(join(tmpdir(), `${PREFIX}-daemon-`));
chmodSync(work, 0o755);

describe('berthd with the docker CLI', () => {
  const d = new PrivateBerthd();
  const docker = (args: string[]) => d.docker(args);
  /** status and JSON body of a raw API call */
  const api = async (method: string, path: string) => { const r = await d.api(method, path); return { status: r.status, json: r.json }; };
  let reg: Awaited<ReturnType<typeof startRegistry>>;
  before(async () => {
    reg = await startRegistry(join(work, 'registry'));
    makeRootfs(join(work, 'rootfs'));
    const lay = join(work, 'layout');
    writeIndex(lay, 'v1', [addImage(lay, { layers: [tarOf(join(work, 'rootfs'))] })], false);
    skopeo(['copy', '--dest-tls-verify=false', `oci:${lay}:v1`, `docker://${reg.addr}/test/busybox:v1`]);
    await d.start();
  });
  after(async () => {
    await d.stop();
    await reg?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('docker version negotiates down to berth\'s API', () => {
    const r = docker(['version', '--format', '{{.Server.Version}} {{.Server.APIVersion}} {{.Client.APIVersion}}']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^0\.\d+\.\d+ 1\.47 1\.47\n$/);
  });

  test('docker pull, images, inspect, tag, history, rmi', () => {
    const ref = `${reg.addr}/test/busybox:v1`;
    const p = docker(['pull', ref]);
    assert.equal(p.code, 0, p.err);
    assert.match(p.out, /Pull complete/);
    assert.match(p.out, new RegExp(`Status: Downloaded newer image for ${ref}`));
    assert.match(docker(['images']).out, new RegExp(`${reg.addr}/test/busybox\\s+v1\\s+[0-9a-f]{12}`));
    assert.equal(docker(['image', 'inspect', '-f', '{{.Os}}/{{.Architecture}}', ref]).out, 'linux/amd64\n');
    assert.equal(docker(['tag', ref, 'mine:1']).code, 0);
    assert.match(docker(['images', '--format', '{{.Repository}}:{{.Tag}}']).out, /mine:1/);
    assert.match(docker(['history', ref]).out, /layer 0/);
    assert.equal(docker(['rmi', 'mine:1']).out, 'Untagged: mine:1\n');
    const rm = docker(['rmi', ref]);
    assert.equal(rm.code, 0, rm.err);
    assert.match(rm.out, /Deleted: sha256:/);
    assert.equal(docker(['images', '-q']).out, '');
  });

  test('bad requests get docker\'s error shape and status; the daemon keeps serving', async () => {
    const missing = docker(['rmi', 'nothing:here']);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /Error response from daemon: No such image: nothing:here/);
    // docker's words, which clients match: the reference as docker reads it
    assert.deepEqual(await api('GET', '/v1.47/images/nothing/json'), { status: 404, json: { message: 'No such image: nothing:latest' } });
    assert.deepEqual(await api('GET', '/v1.47/containers/nothing/json'), { status: 404, json: { message: 'No such container: nothing' } });
    assert.deepEqual(await api('GET', '/v1.47/volumes/nothing'), { status: 404, json: { message: 'get nothing: no such volume' } });
    assert.equal((await api('POST', '/v1.47/images/create')).status, 400);
    assert.match((await api('POST', '/v1.47/images/create?fromImage=Bad/Name')).json.message, /repository name must be lowercase/);
    assert.equal((await api('GET', '/v1.47/no/such/endpoint')).status, 404);
    assert.match((await api('GET', '/v1.12/version')).json.message, /too old\. Minimum supported API version is 1\.41/);
    assert.equal((await api('GET', '/_ping')).status, 200);
    assert.equal(docker(['version', '--format', '{{.Server.Version}}']).code, 0, 'still serving');
  });
});
