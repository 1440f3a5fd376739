// berthd judged by two more clients nobody here wrote: dockerode (npm) and
// Debian's docker-compose (1.29, docker-py), each doing its usual work.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import { PassThrough, Readable } from 'node:stream';
import Docker from 'dockerode';
import { PREFIX } from './helpers/env.js';
import { makeRootfs } from './helpers/make-bundle.js';
import { tarOf } from './helpers/oci-image.js';
import { PrivateBerthd } from './helpers/berthd.js';

const work = mkdtempSync(join(tmpdir(), `${PREFIX}-clients-`));
chmodSync(work, 0o755);
const IMG = 'berth-test/busybox:clients';

describe('dockerode, testcontainers and docker-compose against berthd', () => {
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

  test('dockerode run() (its body has VolumesFrom: [] at the top level) works; a name in the body, fields docker does not know, and HostConfig fields at the top level are taken as dockerd takes them', async () => {
    const out = new PassThrough();
    let o = '';
    out.on('data', (x) => { o += x; });
    const [res, c] = await docker.run(IMG, ['sh', '-c', 'echo ran by dockerode'], out, { Labels: { suite: 'run' } }) as [{ StatusCode: number }, Docker.Container];
    assert.equal(res.StatusCode, 0);
    assert.equal(o.replace(/\r/g, ''), 'ran by dockerode\n');
    await c.remove();
    const legacy = await d.api('POST', '/containers/create?name=legacy-body', JSON.stringify({ Image: IMG, Cmd: ['true'], name: 'ignored', NoSuchField: { x: 1 }, Dns: ['10.9.8.7'], Memory: 64 << 20, HostConfig: { NoSuchHostField: true } }), { 'content-type': 'application/json' });
    assert.equal(legacy.status, 201, legacy.text);
    const info = await docker.getContainer('legacy-body').inspect();
    assert.equal(info.HostConfig.Memory, 64 << 20, 'the top level\'s Memory fills the inner HostConfig');
    assert.deepEqual(info.HostConfig.Dns ?? [], [], 'with an inner HostConfig, the top level\'s Dns is not read (dockerd)');
    assert.ok(!('NoSuchHostField' in info.HostConfig));
    await docker.getContainer('legacy-body').remove();
    const flat = await d.api('POST', '/containers/create?name=flat-body', JSON.stringify({ Image: IMG, Cmd: ['true'], Dns: ['10.9.8.7'] }), { 'content-type': 'application/json' });
    assert.equal(flat.status, 201, flat.text);
    assert.deepEqual((await docker.getContainer('flat-body').inspect()).HostConfig.Dns, ['10.9.8.7'], 'without one, the top level is the HostConfig');
    await docker.getContainer('flat-body').remove();
    const wrong = await d.api('POST', '/containers/create', JSON.stringify({ Image: IMG, HostConfig: { Memory: 'lots' } }), { 'content-type': 'application/json' });
    assert.equal(wrong.status, 400);
    assert.match(wrong.text, /HostConfig\.Memory: must be an integer/);
  });

  test('dockerode: putArchive and resize answer 200 as dockerd does; plugins are an empty list and a named one is not found; swarm answers 503 with dockerd\'s words, and swarm init says berth does not offer it', async () => {
    const c = await docker.createContainer({ Image: IMG, Cmd: ['sleep', '30'], Tty: true });
    await c.start();
    await c.putArchive(Readable.from([tarOf(join(work, 'rootfs', 'etc'))]), { path: '/tmp' });
    assert.match((await d.api('GET', `/containers/${c.id}/archive?path=/tmp/passwd`)).text, /root:x:0:0/);
    await c.resize({ h: 30, w: 100 });
    const x = await c.exec({ Cmd: ['sleep', '5'], Tty: true });
    await x.start({ hijack: true, Tty: true });
    await x.resize({ h: 20, w: 80 });
    for (const [m, p] of [['PUT', `/containers/${c.id}/archive?path=/tmp`], ['POST', `/containers/${c.id}/resize?h=10&w=10`], ['POST', `/exec/${x.id}/resize?h=10&w=10`]] as const) {
      assert.equal((await d.api(m, p, m === 'PUT' ? tarOf(join(work, 'rootfs', 'etc')) : undefined)).status, 200, `${m} ${p}`);
    }
    await c.remove({ force: true });
    assert.deepEqual(await docker.listPlugins(), []);
    await assert.rejects(docker.getPlugin('vieux/sshfs', 'vieux/sshfs').inspect(), (e: { statusCode?: number; message: string }) => e.statusCode === 404 && /plugin "vieux\/sshfs" not found/.test(e.message));
    await assert.rejects(docker.swarmInspect(), (e: { statusCode?: number; message: string }) => e.statusCode === 503 && /This node is not a swarm manager/.test(e.message));
    await assert.rejects(docker.listServices(), (e: { statusCode?: number }) => e.statusCode === 503);
    const init = d.docker(['swarm', 'init']);
    assert.notEqual(init.code, 0);
    assert.match(init.err, /berth does not offer swarm/);
    assert.match(d.docker(['node', 'ls']).err, /This node is not a swarm manager/);
    assert.equal(d.docker(['plugin', 'ls', '-q']).out, '');
  });

  test('dockerode: network create, connect to a running container, inspect, disconnect, remove; GET /networks/bridge as testcontainers reads it', async () => {
    const bridge = await docker.getNetwork('bridge').inspect();
    assert.match(bridge.IPAM!.Config![0]!.Gateway!, /^\d+\.\d+\.\d+\.1$/);
    const net = await docker.createNetwork({ Name: 'dockerode-net', IPAM: { Driver: 'default', Config: [{ Subnet: '10.236.0.0/24' }] }, Labels: { by: 'dockerode' } });
    const c = await docker.createContainer({ Image: IMG, Cmd: ['sleep', '30'] });
    await c.start();
    await net.connect({ Container: c.id, EndpointConfig: { IPAMConfig: { IPv4Address: '10.236.0.9' }, Aliases: ['dode'] } });
    const seen = await net.inspect();
    assert.equal(seen.Containers![c.id]!.IPv4Address, '10.236.0.9/24');
    assert.equal(seen.Labels!.by, 'dockerode');
    const info = await c.inspect();
    assert.equal(info.NetworkSettings.Networks['dockerode-net']!.IPAddress, '10.236.0.9');
    await net.disconnect({ Container: c.id });
    await c.remove({ force: true });
    await net.remove();
    await assert.rejects(net.inspect(), /404|not found/);
  });

  test('testcontainers: a mapped port behind a wait strategy, a network with an alias, the host found as testcontainers finds it (the bridge\'s gateway when /.dockerenv is there)', async () => {
    const lock = '/tmp/testcontainers-node-0.lock', hadLock = existsSync(lock);
    Object.assign(process.env, { DOCKER_HOST: `unix://${d.sock}`, TESTCONTAINERS_RYUK_DISABLED: 'true' }); // ryuk is an image from Docker Hub
    delete process.env.TESTCONTAINERS_HOST_OVERRIDE;
    const { GenericContainer, Network, Wait } = await import('testcontainers');
    const net = await new Network().start();
    const web = await new GenericContainer(IMG).withNetwork(net).withNetworkAliases('web').withExposedPorts(80).withLabels({ 'berth-test': 'tc' })
      .withCommand(['sh', '-c', 'mkdir -p /w && echo from testcontainers > /w/index.html && exec httpd -f -p 80 -h /w']).withWaitStrategy(Wait.forListeningPorts()).start()
      .catch(async (e: unknown) => { // a start that failed leaves its container: take it and the network away
        d.docker(['rm', '-f', ...d.docker(['ps', '-aq', '--filter', 'label=berth-test=tc']).out.split('\n').filter(Boolean)]);
        await net.stop();
        throw e;
      });
    try {
      const gateway = (await docker.getNetwork('bridge').inspect()).IPAM!.Config![0]!.Gateway!;
      assert.equal(web.getHost(), existsSync('/.dockerenv') ? gateway : 'localhost');
      const body = await new Promise<string>((res, rej) => httpGet({ host: web.getHost(), port: web.getMappedPort(80), path: '/' }, (m) => { let t = ''; m.on('data', (c) => { t += c; }); m.on('end', () => res(t)); }).on('error', rej));
      assert.equal(body, 'from testcontainers\n');
      const client = await new GenericContainer(IMG).withNetwork(net).withCommand(['sleep', '60']).start();
      const got = await client.exec(['sh', '-c', 'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 3 web 80 | tail -1']);
      await client.stop();
      assert.equal(got.output, 'from testcontainers\n', 'by its alias, through the embedded DNS');
    } finally {
      await web.stop();
      await net.stop();
      if (!hadLock) rmSync(lock, { force: true });
    }
    assert.equal(d.docker(['ps', '-aq']).out, '');
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

  test('docker-compose with networks: the default network, a client that finds the server by its service name, a published port; a service on one of two networks cannot reach the other; down leaves nothing', async () => {
    const proj = join(work, 'netproj');
    mkdirSync(proj);
    writeFileSync(join(proj, 'docker-compose.yml'), `version: "3"
services:
  web:
    image: ${IMG}
    command: sh -c 'mkdir -p /w && echo served by web > /w/index.html && exec httpd -f -p 80 -h /w'
    ports:
      - "127.0.0.1:18090:80"
  client:
    image: ${IMG}
    depends_on: [web]
    command: sh -c 'sleep 0.5; printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 3 web 80 | tail -1; sleep 300'
  back:
    image: ${IMG}
    networks: [private]
    command: sleep 300
networks:
  private:
`);
    const compose = (args: string[]) => {
      const r = spawnSync('docker-compose', ['-p', 'berthnet', ...args], { cwd: proj, encoding: 'utf8', env: d.env(), timeout: 120000 });
      return { out: r.stdout, err: r.stderr, code: r.status };
    };
    const up = compose(['up', '-d']);
    assert.equal(up.code, 0, up.err);
    assert.deepEqual(d.docker(['network', 'ls', '--format', '{{.Name}}', '--filter', 'name=berthnet']).out.trim().split('\n').sort(), ['berthnet_default', 'berthnet_private']);
    let logs = '';
    for (let i = 0; i < 50 && !/served by web/.test(logs); i++) { spawnSync('sleep', ['0.1']); logs = compose(['logs', '--no-color', 'client']).out; }
    assert.match(logs, /client_1 +\| served by web/);
    const body = await new Promise<string>((res) => {
      const r = httpGet({ host: '127.0.0.1', port: 18090, path: '/' }, (m) => { let t = ''; m.on('data', (c) => { t += c; }); m.on('end', () => res(t)); });
      r.on('error', (e) => res(String(e)));
    });
    assert.equal(body, 'served by web\n');
    assert.match(compose(['ps']).out, /127\.0\.0\.1:18090->80\/tcp/);
    // back is on "private" only: web's name does not resolve there, nor is its address reachable
    const webIp = d.docker(['inspect', '-f', '{{(index .NetworkSettings.Networks "berthnet_default").IPAddress}}', 'berthnet_web_1']).out.trim();
    assert.notEqual(compose(['exec', '-T', 'back', 'nslookup', 'web']).code, 0);
    assert.equal(compose(['exec', '-T', 'back', 'sh', '-c', `printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 2 ${webIp} 80 | tail -1`]).out, '');
    const down = compose(['down']);
    assert.equal(down.code, 0, down.err);
    assert.equal(d.docker(['ps', '-aq']).out, '');
    assert.equal(d.docker(['network', 'ls', '-q', '--filter', 'name=berthnet']).out, '');
    assert.deepEqual(d.netLeftovers().filter((l) => l.startsWith('link bv')), [], 'no veth stays');
    // the default bridge keeps berth's table (the dockerode test used it); the project's port and bridges are gone from it
    const rules = spawnSync('nft', ['list', 'table', 'inet', d.netNames.table], { encoding: 'utf8' }).stdout;
    assert.doesNotMatch(rules, /dnat ip6? to|br-/);
  });
});
