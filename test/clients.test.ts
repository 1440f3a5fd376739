// berthd judged by two more clients nobody here wrote: dockerode (npm) and
// Debian's docker-compose (1.29, docker-py), each doing its usual work.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import { PREFIX } from './helpers/env.js';
import { makeRootfs } from './helpers/make-bundle.js';
import { tarOf } from './helpers/oci-image.js';
import { PrivateBerthd } from './helpers/berthd.js';

const work = mkdtempSync(join(tmpdir(), `${PREFIX}-clients-`));
chmodSync(work, 0o755);
const IMG = 'berth-test/busybox:clients';

describe('dockerode and docker-compose against berthd', () => {
  const d = new PrivateBerthd();
  let docker: Docker;
  before(async () => {
    makeRootfs(join(work, 'rootfs'));
    writeFileSync(join(work, 'rootfs.tar'), tarOf(join(work, 'rootfs')));
    await d.start();
    assert.equal(d.berth(['import', '-c', 'CMD ["sh"]', join(work, 'rootfs.tar'), IMG]).code, 0);
    docker = new Docker({ socketPath: d.sock });
  });
  after(async () => {
    await d.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('dockerode: create, attach, start, wait, logs, exec, inspect, list, remove', async () => {
    const c = await docker.createContainer({ Image: IMG, Cmd: ['sh', '-c', 'echo out; echo err >&2; exit 4'], Labels: { suite: 'clients' } });
    const stream = await c.attach({ stream: true, stdout: true, stderr: true });
    const out = new PassThrough(), err = new PassThrough();
    let o = '', e = '';
    out.on('data', (x) => { o += x; });
    err.on('data', (x) => { e += x; });
    docker.modem.demuxStream(stream, out, err);
    await c.start();
    const w = await c.wait();
    assert.equal(w.StatusCode, 4);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(o, 'out\n');
    assert.equal(e, 'err\n');
    const logs = (await c.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
    assert.match(logs.toString('latin1'), /out\n[\s\S]*err\n/);
    const listed = await docker.listContainers({ all: true, filters: { label: ['suite=clients'] } });
    assert.deepEqual(listed.map((x) => x.Id), [c.id]);
    assert.equal(listed[0]!.State, 'exited');
    await c.remove();

    const s = await docker.createContainer({ Image: IMG, Cmd: ['sleep', '30'] });
    await s.start();
    const x = await s.exec({ Cmd: ['sh', '-c', 'echo from exec; exit 2'], AttachStdout: true, AttachStderr: true });
    const xs = await x.start({ hijack: true, stdin: false });
    let xo = '';
    const xout = new PassThrough();
    xout.on('data', (b) => { xo += b; });
    docker.modem.demuxStream(xs, xout, new PassThrough());
    await new Promise((r) => xs.on('end', r));
    assert.equal(xo, 'from exec\n');
    assert.equal((await x.inspect()).ExitCode, 2);
    const info = await s.inspect();
    assert.equal(info.State.Running, true);
    assert.ok(info.State.Pid > 1);
    await s.stop({ t: 0 });
    assert.equal((await s.inspect()).State.Running, false);
    await s.remove();
    await assert.rejects(docker.getContainer('no-such').inspect(), (er: { statusCode?: number }) => er.statusCode === 404);
  });

  test('docker-compose: two services, depends_on, a shared named volume, environment; up -d, ps, logs, down -v', () => {
    const proj = join(work, 'proj');
    mkdirSync(proj);
    writeFileSync(join(proj, 'docker-compose.yml'), `version: "3"
services:
  db:
    image: ${IMG}
    network_mode: none
    command: sh -c 'echo "$$GREETING" > /shared/msg; echo db ready; sleep 300'
    environment:
      GREETING: hello from db
    volumes:
      - shared:/shared
  app:
    image: ${IMG}
    network_mode: none
    depends_on: [db]
    command: sh -c 'while [ ! -s /shared/msg ]; do sleep 0.1; done; echo app read $$(cat /shared/msg); sleep 300'
    volumes:
      - shared:/shared
volumes:
  shared:
`);
    const compose = (args: string[]) => {
      const r = spawnSync('docker-compose', ['-p', 'berthtest', ...args], { cwd: proj, encoding: 'utf8', env: d.env(), timeout: 120000 });
      return { out: r.stdout, err: r.stderr, code: r.status };
    };
    const up = compose(['up', '-d']);
    assert.equal(up.code, 0, up.err);
    const ps = compose(['ps']);
    assert.match(ps.out, /berthtest_db_1 .* Up/);
    assert.match(ps.out, /berthtest_app_1 .* Up/);
    assert.equal(ps.out.split('\n').filter((l) => l.startsWith('berthtest_')).length, 2);
    let logs = '';
    for (let i = 0; i < 50 && !/app read hello from db/.test(logs); i++) { spawnSync('sleep', ['0.1']); logs = compose(['logs', '--no-color']).out; }
    assert.match(logs, /db_1 +\| db ready/);
    assert.match(logs, /app_1 +\| app read hello from db/);
    assert.match(d.docker(['volume', 'ls', '-q']).out, /^berthtest_shared$/m);
    // exec into a service, and a one-off run (which sends legacy links to what it depends on)
    assert.equal(compose(['exec', '-T', 'app', 'cat', '/shared/msg']).out, 'hello from db\n');
    const once = compose(['run', '--rm', '-T', 'app', 'cat', '/shared/msg']);
    assert.equal(once.code, 0, once.err);
    assert.match(once.out, /hello from db\n$/);
    const down = compose(['down', '-v']);
    assert.equal(down.code, 0, down.err);
    assert.equal(d.docker(['ps', '-aq']).out, '');
    assert.doesNotMatch(d.docker(['volume', 'ls', '-q']).out, /berthtest_shared/);
  });
});
