// Every route's status, success and refusal, judged by dockerd: one sequence
// of raw Engine API requests is sent to a private dockerd 20.10 and to
// berthd, each from the same start (the same rootfs imported under the
// same name), and the status codes must match. Where berth answers as newer
// dockerds do, the difference is listed with the reason.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import { PREFIX } from './helpers/env.js';
import { makeRootfs } from './helpers/make-bundle.js';
import { tarOf, startRegistry } from './helpers/oci-image.js';
import { PrivateDockerd } from './helpers/dockerd.js';
import { PrivateBerthd } from './helpers/berthd.js';

const work = mkdtempSync(join(tmpdir(), `${PREFIX}-apidiff-`));
chmodSync(work, 0o755);
const IMG = 'berth-test/busybox:apidiff';

type Step = [name: string, method: string, path: string, body?: unknown];

/** dockerd 20.10 differs from newer dockerds here; berth answers as the newer ones (API 1.47). */
const NEWER: Record<string, [docker2010: number, berth: number, why: string]> = {
  'unpause a running container': [500, 409, 'dockerd 25+ answers a conflict (errdefs.Conflict), not a server error'],
  'wait with an unknown condition': [200, 400, 'dockerd 23+ refuses an unknown condition'],
  'tag with a bad name': [500, 400, 'dockerd 23+ answers an invalid reference as bad input'],
};

function steps(reg: string): Step[] {
  return [
    ['create', 'POST', '/containers/create?name=d1', { Image: IMG, Cmd: ['sleep', '100'] }],
    ['create with a taken name', 'POST', '/containers/create?name=d1', { Image: IMG }],
    ['create from a missing image', 'POST', '/containers/create', { Image: 'berth-test/nope:zz' }],
    ['start a missing container', 'POST', '/containers/nope/start'],
    ['pause a created container', 'POST', '/containers/d1/pause'],
    ['exec in a created container', 'POST', '/containers/d1/exec', { Cmd: ['true'] }],
    ['kill a created container', 'POST', '/containers/d1/kill'],
    ['start', 'POST', '/containers/d1/start'],
    ['start again', 'POST', '/containers/d1/start'],
    ['top', 'GET', '/containers/d1/top'],
    ['changes', 'GET', '/containers/d1/changes'],
    ['stats once', 'GET', '/containers/d1/stats?stream=0&one-shot=1'],
    ['logs', 'GET', '/containers/d1/logs?stdout=1'],
    ['logs without a stream', 'GET', '/containers/d1/logs'],
    ['unpause a running container', 'POST', '/containers/d1/unpause'],
    ['pause', 'POST', '/containers/d1/pause'],
    ['pause again', 'POST', '/containers/d1/pause'],
    ['unpause', 'POST', '/containers/d1/unpause'],
    ['rename to its own name', 'POST', '/containers/d1/rename?name=d1'],
    ['rename', 'POST', '/containers/d1/rename?name=d2'],
    ['update', 'POST', '/containers/d2/update', { CpuShares: 512 }],
    ['exec create', 'POST', '/containers/d2/exec', { Cmd: ['true'] }],
    ['archive HEAD', 'HEAD', '/containers/d2/archive?path=/etc'],
    ['archive GET', 'GET', '/containers/d2/archive?path=/etc/hostname'],
    ['archive of a missing path', 'GET', '/containers/d2/archive?path=/nope'],
    ['export', 'GET', '/containers/d2/export'],
    ['commit', 'POST', '/commit?container=d2&repo=berth-test/committed&tag=x'],
    ['remove a running container', 'DELETE', '/containers/d2'],
    ['wait with an unknown condition', 'POST', '/containers/d2/wait?condition=foo'],
    ['restart', 'POST', '/containers/d2/restart?t=0'],
    ['stop', 'POST', '/containers/d2/stop?t=0'],
    ['stop again', 'POST', '/containers/d2/stop?t=0'],
    ['kill a stopped container', 'POST', '/containers/d2/kill'],
    ['wait', 'POST', '/containers/d2/wait'],
    ['remove', 'DELETE', '/containers/d2'],
    ['remove again', 'DELETE', '/containers/d2'],
    ['container prune', 'POST', '/containers/prune'],
    ['tag', 'POST', '/images/berth-test/committed:x/tag?repo=berth-test/committed&tag=y'],
    ['tag a missing image', 'POST', '/images/berth-test/nope:zz/tag?repo=berth-test/x&tag=y'],
    ['tag with a bad name', 'POST', `/images/${IMG}/tag?repo=BAD&tag=x`],
    ['history', 'GET', `/images/${IMG}/history`],
    ['inspect a missing image', 'GET', '/images/berth-test/nope:zz/json'],
    ['untag', 'DELETE', '/images/berth-test/committed:y'],
    ['remove an image', 'DELETE', '/images/berth-test/committed:x'],
    ['image prune', 'POST', '/images/prune'],
    ['volume create', 'POST', '/volumes/create', { Name: 'dv' }],
    ['volume inspect', 'GET', '/volumes/dv'],
    ['volume inspect missing', 'GET', '/volumes/nope'],
    ['create with the volume', 'POST', '/containers/create?name=d3', { Image: IMG, Cmd: ['sleep', '100'], HostConfig: { Binds: ['dv:/v'] } }],
    ['remove a volume in use', 'DELETE', '/volumes/dv'],
    ['network create', 'POST', '/networks/create', { Name: 'dn' }],
    ['network inspect missing', 'GET', '/networks/nope'],
    ['network connect', 'POST', '/networks/dn/connect', { Container: 'd3' }],
    ['start with the network', 'POST', '/containers/d3/start'],
    ['remove a network in use', 'DELETE', '/networks/dn'],
    ['remove the bridge network', 'DELETE', '/networks/bridge'],
    ['network disconnect', 'POST', '/networks/dn/disconnect', { Container: 'd3', Force: true }],
    ['network remove', 'DELETE', '/networks/dn'],
    ['force remove', 'DELETE', '/containers/d3?force=1'],
    ['volume remove', 'DELETE', '/volumes/dv'],
    ['volume prune', 'POST', '/volumes/prune'],
    ['network prune', 'POST', '/networks/prune'],
    ['exec inspect missing', 'GET', '/exec/nope/json'],
    ['lists', 'GET', '/containers/json?all=1'],
    ['a filter that does not exist', 'GET', '/containers/json?filters=%7B%22foo%22%3A%5B%22x%22%5D%7D'],
    ['images', 'GET', '/images/json'],
    ['info', 'GET', '/info'],
    ['version', 'GET', '/version'],
    ['ping', 'GET', '/_ping'],
    ['system df', 'GET', '/system/df'],
    ['events until', 'GET', '/events?since=0&until=1'],
    ['save', 'GET', `/images/${IMG}/get`],
    ['tag for the registry', 'POST', `/images/${IMG}/tag?repo=${reg}/apidiff&tag=1`],
    ['push', 'POST', `/images/${reg}/apidiff/push?tag=1`],
    ['pull', 'POST', `/images/create?fromImage=${reg}/apidiff&tag=1`],
    ['distribution', 'GET', `/distribution/${reg}/apidiff:1/json`],
    ['distribution of a missing image', 'GET', `/distribution/${reg}/nope:1/json`],
    ['untag the registry name', 'DELETE', `/images/${reg}/apidiff:1`],
  ];
}

function call(sock: string, [, method, path, body]: Step): Promise<number> {
  return new Promise((res, rej) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const r = request({ socketPath: sock, method, path, headers: { 'X-Registry-Auth': 'e30=', ...(data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}) } }, (m) => {
      m.resume();
      m.on('end', () => res(m.statusCode!));
    });
    r.on('error', rej);
    r.end(data);
  });
}

describe('route statuses against a private dockerd 20.10', () => {
  const docker = new PrivateDockerd();
  const berth = new PrivateBerthd();
  let reg: Awaited<ReturnType<typeof startRegistry>>;
  before(async () => {
    makeRootfs(join(work, 'rootfs'));
    writeFileSync(join(work, 'rootfs.tar'), tarOf(join(work, 'rootfs')));
    await Promise.all([docker.start(), berth.start()]);
    assert.equal(docker.docker(['import', '-c', 'CMD ["sh"]', join(work, 'rootfs.tar'), IMG]).code, 0);
    assert.equal(berth.berth(['import', '-c', 'CMD ["sh"]', join(work, 'rootfs.tar'), IMG]).code, 0);
    reg = await startRegistry(join(work, 'registry'));
  });
  after(async () => {
    await reg.stop();
    await Promise.all([docker.stop(), berth.stop()]);
    rmSync(work, { recursive: true, force: true });
  });

  test('an image\'s size is dockerd\'s: the bytes of its files and symlinks, each inode once', (t) => {
    // berth is overlayfs; dockerd's naive drivers (vfs, ...) count the tar's header sizes instead
    const driver = docker.docker(['info', '--format', '{{.Driver}}']).out.trim();
    if (driver !== 'overlay2') { t.skip(`dockerd here stores images with ${driver}, not overlay2`); return; }
    const size = (d: PrivateDockerd | PrivateBerthd) => d.docker(['image', 'inspect', '--format', '{{.Size}}', IMG]).out.trim();
    assert.match(size(docker), /^\d+$/);
    assert.equal(size(berth), size(docker));
  });

  test('each request of one sequence gets dockerd\'s status from berthd', async () => {
    const diffs: string[] = [];
    for (const s of steps(reg.addr)) {
      const [want, got] = [await call(docker.sock, s), await call(berth.sock, s)];
      const newer = NEWER[s[0]];
      if (newer) {
        assert.equal(want, newer[0], `${s[0]}: dockerd 20.10 changed its answer`);
        if (got !== newer[1]) diffs.push(`${s[0]}: berth ${got}, newer dockerds ${newer[1]}`);
      } else if (want !== got) diffs.push(`${s[0]} (${s[1]} ${s[2]}): dockerd ${want}, berth ${got}`);
    }
    assert.deepEqual(diffs, []);
  });
});
