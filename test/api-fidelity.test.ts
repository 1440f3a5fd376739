// Engine API fidelity (issue 19) through clients nobody here wrote: what
// dockerode, the docker CLI and raw docker requests find when berthd must
// answer as dockerd does — state that shows at once after kill and stop,
// exec framing and detach keys, the create fields docker accepts, inspect's
// and /info's full shapes, legacy links, load's streamed errors, and the
// registry's view (distribution, search) from a loopback registry.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { spawnSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import { PREFIX } from './helpers/env.js';
import { makeRootfs } from './helpers/make-bundle.js';
import { tarOf, startRegistry } from './helpers/oci-image.js';
import { BERTH, PrivateBerthd } from './helpers/berthd.js';

const work = mkdtempSync(join(tmpdir(), `${PREFIX}-fidelity-`));
chmodSync(work, 0o755);
const IMG = 'berth-test/busybox:fidelity';
const json = { 'content-type': 'application/json' };

/** dockerd 20.10's HostConfig keys in inspect (every one present, zero when unset). */
const DOCKER_HOST_CONFIG = ['Binds', 'ContainerIDFile', 'LogConfig', 'NetworkMode', 'PortBindings', 'RestartPolicy', 'AutoRemove', 'VolumeDriver', 'VolumesFrom',
  'CapAdd', 'CapDrop', 'CgroupnsMode', 'Dns', 'DnsOptions', 'DnsSearch', 'ExtraHosts', 'GroupAdd', 'IpcMode', 'Cgroup', 'Links', 'OomScoreAdj', 'PidMode',
  'Privileged', 'PublishAllPorts', 'ReadonlyRootfs', 'SecurityOpt', 'UTSMode', 'UsernsMode', 'ShmSize', 'Runtime', 'ConsoleSize', 'Isolation', 'CpuShares',
  'Memory', 'NanoCpus', 'CgroupParent', 'BlkioWeight', 'BlkioWeightDevice', 'BlkioDeviceReadBps', 'BlkioDeviceWriteBps', 'BlkioDeviceReadIOps',
  'BlkioDeviceWriteIOps', 'CpuPeriod', 'CpuQuota', 'CpuRealtimePeriod', 'CpuRealtimeRuntime', 'CpusetCpus', 'CpusetMems', 'Devices', 'DeviceCgroupRules',
  'DeviceRequests', 'KernelMemory', 'KernelMemoryTCP', 'MemoryReservation', 'MemorySwap', 'MemorySwappiness', 'OomKillDisable', 'PidsLimit', 'Ulimits',
  'CpuCount', 'CpuPercent', 'IOMaximumIOps', 'IOMaximumBandwidth', 'MaskedPaths', 'ReadonlyPaths'];

/** dockerd 20.10's /info keys. */
const DOCKER_INFO = ['ID', 'Containers', 'ContainersRunning', 'ContainersPaused', 'ContainersStopped', 'Images', 'Driver', 'DriverStatus', 'Plugins',
  'MemoryLimit', 'SwapLimit', 'KernelMemory', 'KernelMemoryTCP', 'CpuCfsPeriod', 'CpuCfsQuota', 'CPUShares', 'CPUSet', 'PidsLimit', 'IPv4Forwarding',
  'BridgeNfIptables', 'BridgeNfIp6tables', 'Debug', 'NFd', 'OomKillDisable', 'NGoroutines', 'SystemTime', 'LoggingDriver', 'CgroupDriver', 'CgroupVersion',
  'NEventsListener', 'KernelVersion', 'OperatingSystem', 'OSVersion', 'OSType', 'Architecture', 'IndexServerAddress', 'RegistryConfig', 'NCPU', 'MemTotal',
  'GenericResources', 'DockerRootDir', 'HttpProxy', 'HttpsProxy', 'NoProxy', 'Name', 'Labels', 'ExperimentalBuild', 'ServerVersion', 'Runtimes',
  'DefaultRuntime', 'Swarm', 'LiveRestoreEnabled', 'Isolation', 'InitBinary', 'ContainerdCommit', 'RuncCommit', 'InitCommit', 'SecurityOptions', 'Warnings'];

/** Reads a hijacked exec/attach connection until it ends (or `ms` pass); the raw bytes after the HTTP head. */
function hijacked(sock: string, path: string, body: unknown, send?: (s: import('node:net').Socket) => void, ms = 5000): Promise<{ head: string; bytes: Buffer }> {
  return new Promise((res, rej) => {
    const s = connect(sock);
    const data = JSON.stringify(body ?? {});
    let buf = Buffer.alloc(0), sent = false;
    const timer = setTimeout(() => s.destroy(), ms);
    s.on('connect', () => s.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: ${data.length}\r\n\r\n${data}`));
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!sent && send && buf.includes('\r\n\r\n')) { sent = true; send(s); }
    });
    s.on('error', rej);
    s.on('close', () => {
      clearTimeout(timer);
      const i = buf.indexOf('\r\n\r\n');
      res({ head: buf.subarray(0, i).toString(), bytes: buf.subarray(i + 4) });
    });
  });
}

/** The stdout frames of a multiplexed stream (docker's stdcopy), joined. */
function stdoutOf(b: Buffer): string {
  let out = '';
  for (; b.length >= 8; b = b.subarray(8 + b.readUInt32BE(4))) if (b[0] === 1) out += b.subarray(8, 8 + b.readUInt32BE(4)).toString();
  return out;
}

describe('Engine API fidelity through dockerode and the docker CLI', () => {
  const d = new PrivateBerthd();
  let docker: Docker;
  let reg: Awaited<ReturnType<typeof startRegistry>>;
  before(async () => {
    makeRootfs(join(work, 'rootfs'));
    writeFileSync(join(work, 'rootfs.tar'), tarOf(join(work, 'rootfs')));
    await d.start();
    assert.equal(d.berth(['import', '-c', 'CMD ["sh"]', join(work, 'rootfs.tar'), IMG]).code, 0);
    docker = new Docker({ socketPath: d.sock });
    reg = await startRegistry(join(work, 'registry'));
  });
  after(async () => {
    await reg.stop();
    await d.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('kill and stop return with the exit seen: an inspect right after shows it exited with its code; wait gives the same code', async () => {
    for (let i = 0; i < 8; i++) {
      const c = await docker.createContainer({ Image: IMG, Cmd: ['sleep', '60'] });
      await c.start();
      await c.kill();
      const s = (await c.inspect()).State;
      assert.equal(s.Running, false, `round ${i}: still running right after kill`);
      assert.equal(s.ExitCode, 137);
      assert.equal((await c.wait()).StatusCode, 137);
      await c.start();
      await c.stop({ t: 0 });
      assert.equal((await c.inspect()).State.Running, false);
      await c.restart({ t: 0 });
      const r = (await c.inspect()).State;
      assert.equal(r.Running, true);
      await c.remove({ force: true });
    }
  });

  test('commit?pause=true of a container that has just exited succeeds (the pause is skipped, as dockerd does), and the image records its Parent', async () => {
    const image = (await docker.getImage(IMG).inspect()).Id;
    for (let i = 0; i < 5; i++) {
      const c = await docker.createContainer({ Image: IMG, Cmd: ['true'] });
      await c.start();
      const r = await d.api('POST', `/commit?container=${c.id}&pause=true`);
      assert.equal(r.status, 201, r.text);
      assert.equal((await docker.getImage(r.json.Id).inspect()).Parent, image);
      await c.remove({ force: true });
      await docker.getImage(r.json.Id).remove();
    }
  });

  test('a restart-policy container between its exit and its restart counts as running: remove without force is 409, as in dockerd', async () => {
    const c = await docker.createContainer({ Image: IMG, Cmd: ['sh', '-c', 'sleep 0.2; exit 3'], HostConfig: { RestartPolicy: { Name: 'always' } } });
    await c.start();
    let seen = false;
    for (let i = 0; i < 200 && !seen; i++) {
      const s = (await c.inspect()).State;
      if (s.Restarting) {
        seen = true;
        assert.equal(s.Running, true, 'dockerd shows a restarting container as running');
        await assert.rejects(c.remove(), (e: { statusCode?: number; message: string }) => e.statusCode === 409 && /container is (restarting|running)/.test(e.message));
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.ok(seen, 'the container was never seen restarting');
    await c.remove({ force: true });
  });

  test('legacy links: HostConfig.Links in dockerd\'s form, DELETE /containers/PARENT/ALIAS?link=1 removes one, and the refusals are dockerd\'s', async () => {
    const db = await docker.createContainer({ Image: IMG, name: 'fid-db', Cmd: ['sleep', '30'] });
    await db.start();
    const web = await docker.createContainer({ Image: IMG, name: 'fid-web', Cmd: ['true'], HostConfig: { Links: ['fid-db:al'] } });
    assert.deepEqual((await web.inspect()).HostConfig.Links, ['/fid-db:/fid-web/al']);
    assert.equal((await d.api('DELETE', '/containers/fid-web/al?link=1')).status, 204);
    assert.equal((await web.inspect()).HostConfig.Links, null);
    const again = await d.api('DELETE', '/containers/fid-web/al?link=1');
    assert.equal(again.status, 404);
    assert.equal(again.json.message, 'No such container: fid-web/al');
    const own = await d.api('DELETE', '/containers/fid-db?link=1');
    assert.equal(own.status, 500);
    assert.equal(own.json.message, 'Conflict, cannot remove the default link name of the container');
    await web.remove();
    await db.remove({ force: true });
  });

  test('exec: the start request\'s Tty decides the framing; ctrl-p ctrl-q (or the exec\'s DetachKeys) detach and leave the process running', async () => {
    const c = await docker.createContainer({ Image: IMG, Cmd: ['sleep', '60'] });
    await c.start();
    const ttyExec = await c.exec({ Cmd: ['echo', 'hello'], Tty: true, AttachStdout: true });
    const framed = await hijacked(d.sock, `/exec/${ttyExec.id}/start`, { Tty: false });
    assert.match(framed.head, /multiplexed-stream/);
    assert.equal(framed.bytes[0], 1, 'a stdout frame');
    assert.equal(framed.bytes.subarray(8).toString(), 'hello\r\n');
    const plainExec = await c.exec({ Cmd: ['echo', 'plain'], AttachStdout: true });
    const raw = await hijacked(d.sock, `/exec/${plainExec.id}/start`, { Tty: true });
    assert.match(raw.head, /raw-stream/);
    assert.equal(raw.bytes.toString(), 'plain\n');
    for (const [keys, seq] of [[undefined, Buffer.from([0x10, 0x11])], ['ctrl-x,y', Buffer.from([0x18, 0x79])]] as const) {
      const x = await c.exec({ Cmd: ['sleep', '30'], AttachStdin: true, AttachStdout: true, Tty: true, ...(keys ? { DetachKeys: keys } : {}) });
      const t0 = Date.now();
      await hijacked(d.sock, `/exec/${x.id}/start`, { Tty: true }, (s) => s.write(seq));
      assert.ok(Date.now() - t0 < 4000, 'the detach sequence ended the connection');
      const seen = await x.inspect();
      assert.equal(seen.Running, true, 'the process runs on after a detach');
      assert.ok((await c.inspect()).ExecIDs?.includes(x.id), 'inspect lists the running exec');
      assert.equal(seen.DetachKeys ?? '', keys ?? '');
    }
    // stdin through the docker CLI, small and large; without a tty the detach keys are data, as dockerd passes them (stream.CopyStreams)
    assert.equal(d.docker(['exec', '-i', c.id, 'cat'], 'through stdin\n').out, 'through stdin\n');
    const big = 'abcdefghijklmnopqrstuvwxyz\x10\x11ABCDEFG\n'.repeat(256 * 1024);
    const counted = d.docker(['exec', '-i', c.id, 'wc', '-c'], big);
    assert.equal(counted.out.trim(), String(big.length), counted.err);
    const bad = await d.api('POST', `/containers/${c.id}/exec`, JSON.stringify({ Cmd: ['true'], DetachKeys: 'ctrl-' }), json);
    assert.equal(bad.status, 400);
    await c.remove({ force: true });
  });

  test('dockerode attach with hijack and stdin, then resize after start, as dockerode does them; exec start detached answers 200; renaming to the same name is dockerd\'s 400', async () => {
    const c = await docker.createContainer({ Image: IMG, Cmd: ['sh', '-c', 'read x; echo got $x'], OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true });
    const stream = await c.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
    let out = '';
    const sink = new PassThrough();
    sink.on('data', (b) => { out += b; });
    docker.modem.demuxStream(stream, sink, new PassThrough());
    await c.start();
    stream.write('hello\n');
    assert.equal((await c.wait()).StatusCode, 0);
    for (let i = 0; i < 50 && !out; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(out, 'got hello\n');
    await c.remove();
    const t = await docker.createContainer({ Image: IMG, Cmd: ['sleep', '30'], Tty: true, name: 'fid-resize' });
    await t.start();
    await t.resize({ h: 24, w: 90 });
    const x = await t.exec({ Cmd: ['true'] });
    assert.equal((await d.api('POST', `/exec/${x.id}/start`, JSON.stringify({ Detach: true }), json)).status, 200);
    const same = await d.api('POST', '/containers/fid-resize/rename?name=fid-resize');
    assert.equal(same.status, 400);
    assert.equal(same.json.message, 'Renaming a container with the same name as its current name');
    await t.remove({ force: true });
  });

  test('container list filters network, publish and expose as dockerd; an unknown filter is 400 even with no container to test', async () => {
    const c = await docker.createContainer({ Image: IMG, Cmd: ['sleep', '30'], ExposedPorts: { '8080/tcp': {} }, HostConfig: { PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } } });
    await c.start();
    const ids = async (filters: Record<string, string[]>) => (await docker.listContainers({ filters })).map((x) => x.Id);
    assert.deepEqual(await ids({ network: ['bridge'] }), [c.id]);
    assert.deepEqual(await ids({ network: ['none'] }), []);
    assert.deepEqual(await ids({ publish: ['80'] }), [c.id]);
    assert.deepEqual(await ids({ publish: ['80/udp'] }), []);
    assert.deepEqual(await ids({ expose: ['8080/tcp'] }), [c.id]);
    await c.remove({ force: true });
    await assert.rejects(docker.listContainers({ filters: { foo: ['x'] } }), (e: { statusCode?: number; message: string }) => e.statusCode === 400 && /invalid filter 'foo'/.test(e.message));
  });

  test('NetworkDisabled gives a container loopback only, as dockerd does', async () => {
    const c = await docker.createContainer({ Image: IMG, Cmd: ['sh', '-c', 'ls /sys/class/net'], NetworkDisabled: true });
    await c.start();
    await c.wait();
    assert.equal(((await c.logs({ stdout: true })) as unknown as Buffer).subarray(8).toString(), 'lo\n');
    assert.equal(((await c.inspect()).Config as { NetworkDisabled?: boolean }).NetworkDisabled, true);
    await c.remove();
  });

  test('attach?logs=1&stream=0 answers with the output so far, framed, and ends', async () => {
    const c = await docker.createContainer({ Image: IMG, Cmd: ['sh', '-c', 'echo out1; echo err1 >&2; sleep 30'] });
    await c.start();
    await new Promise((r) => setTimeout(r, 300));
    const got = await hijacked(d.sock, `/containers/${c.id}/attach?logs=1&stream=0&stdout=1&stderr=1`, undefined);
    const frames: string[] = [];
    for (let b = got.bytes; b.length >= 8; b = b.subarray(8 + b.readUInt32BE(4))) frames.push(`${b[0]}:${b.subarray(8, 8 + b.readUInt32BE(4)).toString()}`);
    assert.deepEqual(frames.sort(), ['1:out1\n', '2:err1\n']);
    await c.remove({ force: true });
  });

  test('create fields docker accepts are accepted and applied, or refused in dockerd\'s words where the host cannot', async () => {
    const create = (host: Record<string, unknown>, extra: Record<string, unknown> = {}) => d.api('POST', '/containers/create', JSON.stringify({ Image: IMG, Cmd: ['true'], ...extra, HostConfig: host }), json);
    const refusals: [Record<string, unknown>, RegExp][] = [
      [{ MemorySwappiness: 101 }, /^Invalid value: 101, valid memory swappiness range is 0-100$/],
      [{ Runtime: 'foo' }, /^Unknown runtime specified foo$/],
      [{ VolumeDriver: 'foo' }, /^error looking up volume plugin foo: plugin "foo" not found$/],
      [{ DeviceCgroupRules: ['x 1:3 mr'] }, /^invalid device cgroup rule format: 'x 1:3 mr'$/],
      [{ LogConfig: { Type: 'foo' } }, /^error looking up logging plugin foo: plugin "foo" not found$/],
      [{ CpuRealtimePeriod: 1000, CpuRealtimeRuntime: 2000 }, /^cpu real-time runtime cannot be higher than cpu real-time period$/],
      [{ Mounts: [{ Type: 'volume', Source: 'fidv', Target: '/m', VolumeOptions: { Subpath: '../x' } }] }, /subpath must be a relative path within the volume/],
    ];
    for (const [h, re] of refusals) {
      const r = await create(h);
      assert.equal(r.status, 400, JSON.stringify(h));
      assert.match(r.json.message, re);
    }
    for (const h of [{ Runtime: 'runc' }, { Runtime: 'berth' }, { VolumeDriver: 'local' }, { MemorySwappiness: -1 }]) {
      const r = await create(h);
      assert.equal(r.status, 201, `${JSON.stringify(h)}: ${r.text}`);
      await docker.getContainer(r.json.Id).remove();
    }
    // applied where the host has the knob (cgroup v1 here), discarded with dockerd's warning where not
    const swappiness = existsSync('/sys/fs/cgroup/memory/memory.swappiness');
    const sw = d.docker(['run', '--rm', '--memory-swappiness', '30', IMG, 'sh', '-c', 'cat /sys/fs/cgroup/memory/memory.swappiness 2>/dev/null || echo none']);
    if (swappiness) assert.equal(sw.out.trim(), '30', sw.err);
    else assert.match(sw.err, /Memory swappiness discarded/);
    if (existsSync('/sys/fs/cgroup/devices/devices.list')) {
      const rule = d.docker(['run', '--rm', '--device-cgroup-rule', 'c 10:229 rwm', IMG, 'cat', '/sys/fs/cgroup/devices/devices.list']);
      assert.match(rule.out, /^c 10:229 rwm$/m, rule.err);
    }
    const rt = d.docker(['run', '--rm', '--cpu-rt-runtime', '10000', IMG, 'true']);
    assert.equal(rt.code, 125);
    // dockerd without a real-time budget for its cgroups fails at start, naming the knob; a kernel without it is refused at create
    assert.match(rt.err, existsSync('/sys/fs/cgroup/cpu/cpu.rt_runtime_us') ? /cpu\.rt_runtime_us/ : /Your kernel does not support CPU real-time scheduler/);
  });

  test('CgroupParent, UsernsMode host, MaskedPaths, ReadonlyPaths, Annotations and kernel memory are taken as dockerd takes them; DeviceRequests get dockerd\'s words', async () => {
    const parent = `${d.cgroupParent}/fid-parent`;
    const made = await d.api('POST', '/containers/create', JSON.stringify({ Image: IMG, Cmd: ['sleep', '30'], HostConfig: { CgroupParent: parent, UsernsMode: 'host', Annotations: { 'org.example.fid': 'yes' } } }), json);
    assert.equal(made.status, 201, made.text);
    const c = docker.getContainer(made.json.Id);
    await c.start();
    const pid = (await c.inspect()).State.Pid;
    assert.match(readFileSync(`/proc/${pid}/cgroup`, 'utf8'), new RegExp(`${parent}/${c.id}`), 'the container\'s cgroup is under its CgroupParent');
    const spec = JSON.parse(readFileSync(join(d.dataRoot, 'containers', c.id, 'bundle', 'config.json'), 'utf8')) as { annotations: Record<string, string> };
    assert.equal(spec.annotations['org.example.fid'], 'yes');
    await c.remove({ force: true });
    // /proc/timer_list is masked by default (a /dev/null over it); the docker CLI's systempaths=unconfined sends MaskedPaths: []
    const timers = (opts: string[]) => d.docker(['run', '--rm', ...opts, IMG, 'sh', '-c', 'head -c 20 /proc/timer_list | wc -c']).out.trim();
    if (existsSync('/proc/timer_list')) {
      assert.equal(timers([]), '0');
      assert.equal(timers(['--security-opt', 'systempaths=unconfined']), '20');
    }
    const mine = await d.api('POST', '/containers/create', JSON.stringify({ Image: IMG, Cmd: ['sh', '-c', 'wc -c < /etc/passwd; touch /srv/x 2>/dev/null || echo read-only'], HostConfig: { MaskedPaths: ['/etc/passwd'], ReadonlyPaths: ['/srv'] } }), json);
    assert.equal(mine.status, 201, mine.text);
    const m = docker.getContainer(mine.json.Id);
    await m.start();
    await m.wait();
    assert.equal(stdoutOf((await m.logs({ stdout: true })) as unknown as Buffer).replace(/ +/g, ''), '0\nread-only\n');
    await m.remove();
    const userns = await d.api('POST', '/containers/create', JSON.stringify({ Image: IMG, HostConfig: { UsernsMode: 'private' } }), json);
    assert.equal(userns.status, 400);
    const kmem = await d.api('POST', '/containers/create', JSON.stringify({ Image: IMG, Cmd: ['true'], HostConfig: { KernelMemory: 64 << 20 } }), json);
    assert.equal(kmem.status, 201);
    assert.deepEqual(kmem.json.Warnings, ['Specifying a kernel memory limit is deprecated and will be removed in a future release.']);
    await docker.getContainer(kmem.json.Id).remove();
    const gpu = await d.api('POST', '/containers/create', JSON.stringify({ Image: IMG, HostConfig: { DeviceRequests: [{ Driver: '', Count: -1, Capabilities: [['gpu']] }] } }), json);
    assert.equal(gpu.status, 400);
    assert.equal(gpu.json.message, 'could not select device driver "" with capabilities: [[gpu]]');
  });

  test('a volume mount\'s Subpath mounts that path of the volume, resolved inside it (a planted symlink cannot leave it); a missing one is named at start', async () => {
    assert.equal(d.docker(['volume', 'create', 'fidsub']).code, 0);
    assert.equal(d.docker(['run', '--rm', '-v', 'fidsub:/v', IMG, 'sh', '-c', 'mkdir -p /v/a/b && echo inside > /v/a/b/f && ln -s / /v/esc && ln -s ../../.. /v/a/up']).code, 0);
    const run = (sub: string, cmd: string[]) => d.docker(['run', '--rm', '--mount', `type=volume,src=fidsub,dst=/m,volume-subpath=${sub}`, IMG, ...cmd]);
    assert.equal(run('a', ['cat', '/m/b/f']).out, 'inside\n');
    assert.equal(run('a/b/f', ['cat', '/m']).out, 'inside\n');
    assert.deepEqual(run('esc', ['ls', '/m']).out.split('\n').filter(Boolean).sort(), ['a', 'esc'], 'the symlink to / stays inside the volume');
    assert.deepEqual(run('a/up', ['ls', '/m']).out.split('\n').filter(Boolean).sort(), ['a', 'esc']);
    const missing = run('nope', ['true']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.err, /subpath "nope": no such file or directory/);
    assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').includes(d.execRoot), false, 'no staged bind is left on the host');
    assert.equal(d.docker(['volume', 'rm', 'fidsub']).code, 0);
  });

  test('inspect carries every HostConfig field of dockerd\'s shape, zero where unset, and GraphDriver.Data; image inspect has dockerd\'s full Config and its older fields; /info carries every field of dockerd\'s', async () => {
    const c = await docker.createContainer({ Image: IMG, Cmd: ['true'] });
    const h = (await c.inspect()).HostConfig as unknown as Record<string, unknown>;
    for (const k of DOCKER_HOST_CONFIG) assert.ok(k in h, `HostConfig.${k} is missing`);
    assert.equal(h.Memory, 0);
    assert.equal(h.NanoCpus, 0);
    assert.equal(h.CpuShares, 0);
    assert.equal(h.MemorySwappiness, null);
    const full = await c.inspect() as unknown as { Config: Record<string, unknown>; GraphDriver: { Name: string; Data: Record<string, string> | null } };
    assert.ok('OnBuild' in full.Config);
    if (full.GraphDriver.Name === 'overlay') {
      assert.ok(existsSync(full.GraphDriver.Data!.UpperDir!), 'GraphDriver.Data.UpperDir is the container\'s upper dir');
      assert.ok(full.GraphDriver.Data!.LowerDir!.length > 0);
    }
    await c.remove();
    const img = await docker.getImage(IMG).inspect() as unknown as Record<string, unknown> & { Config: Record<string, unknown> };
    for (const k of ['Container', 'ContainerConfig', 'DockerVersion', 'VirtualSize']) assert.ok(k in img, `image inspect has no ${k}`);
    for (const k of ['Hostname', 'User', 'AttachStdin', 'Tty', 'Env', 'Cmd', 'Image', 'Volumes', 'WorkingDir', 'Entrypoint', 'OnBuild', 'Labels']) assert.ok(k in img.Config, `image Config has no ${k}`);
    assert.equal(img.VirtualSize, img.Size);
    const info = await docker.info() as Record<string, unknown>;
    for (const k of DOCKER_INFO) assert.ok(k in info, `/info has no ${k}`);
    assert.equal(info.Debug, false);
    assert.equal(typeof info.NFd, 'number');
    assert.equal((info.Swarm as { LocalNodeState: string }).LocalNodeState, 'inactive');
    assert.equal(info.OperatingSystem, /^PRETTY_NAME="?([^"\n]*)/m.exec(readFileSync('/etc/os-release', 'utf8'))![1]);
  });

  test('load: a garbage archive is a 200 with the error in the JSON stream (docker load prints it); a save by image ID loads as that ID only', async () => {
    const garbage = await d.api('POST', '/images/load', Buffer.alloc(4096, 7), { 'content-type': 'application/x-tar' });
    assert.equal(garbage.status, 200);
    const msg = JSON.parse(garbage.text.trim().split('\n').pop()!) as { error: string; errorDetail: { message: string } };
    assert.match(msg.error, /^Error processing tar file: /);
    assert.equal(msg.errorDetail.message, msg.error);
    const cli = d.docker(['load'], 'not a tar at all'.repeat(100));
    assert.notEqual(cli.code, 0);
    assert.match(cli.err, /Error processing tar file/);
    assert.equal(d.docker(['tag', IMG, 'berth-test/other:tag']).code, 0);
    const id = (await docker.getImage(IMG).inspect()).Id;
    const tar = join(work, 'byid.tar');
    assert.equal(d.docker(['save', '-o', tar, id]).code, 0);
    const loaded = d.docker(['load', '-i', tar]);
    assert.equal(loaded.out, `Loaded image ID: ${id}\n`, loaded.err);
    assert.equal(d.docker(['rmi', 'berth-test/other:tag']).code, 0);
  });

  test('load takes the oldest docker save format (layer directories chained by parent, a repositories file, no manifest.json)', async () => {
    const dir = join(work, 'legacy');
    const base = 'a'.repeat(64), top = 'b'.repeat(64);
    mkdirSync(join(dir, base), { recursive: true });
    mkdirSync(join(dir, top), { recursive: true });
    mkdirSync(join(work, 'legacy-top', 'srv'), { recursive: true });
    writeFileSync(join(work, 'legacy-top', 'srv', 'greeting'), 'from the top layer\n');
    writeFileSync(join(dir, base, 'layer.tar'), tarOf(join(work, 'rootfs')));
    writeFileSync(join(dir, top, 'layer.tar'), tarOf(join(work, 'legacy-top')));
    for (const id of [base, top]) writeFileSync(join(dir, id, 'VERSION'), '1.0');
    writeFileSync(join(dir, base, 'json'), JSON.stringify({ id: base, created: '2015-01-01T00:00:00Z', container_config: { Cmd: ['/bin/sh', '-c', '#(nop) ADD rootfs'] }, config: {}, architecture: 'amd64', os: 'linux' }));
    writeFileSync(join(dir, top, 'json'), JSON.stringify({ id: top, parent: base, created: '2015-01-02T00:00:00Z', container_config: { Cmd: ['/bin/sh', '-c', '#(nop) ADD srv'] }, config: { Cmd: ['cat', '/srv/greeting'], Env: ['PATH=/bin'] }, architecture: 'amd64', os: 'linux' }));
    writeFileSync(join(dir, 'repositories'), JSON.stringify({ 'berth-test/legacy': { v1: top } }));
    writeFileSync(join(work, 'legacy.tar'), tarOf(dir));
    const loaded = d.docker(['load', '-i', join(work, 'legacy.tar')]);
    assert.equal(loaded.out, 'Loaded image: berth-test/legacy:v1\n', loaded.err);
    assert.equal(d.docker(['run', '--rm', 'berth-test/legacy:v1']).out, 'from the top layer\n');
    assert.equal(JSON.parse(d.docker(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', 'berth-test/legacy:v1']).out).length, 2);
    assert.equal(d.docker(['rmi', 'berth-test/legacy:v1']).code, 0);
  });

  test('the archive API on a container never started reaches its volumes', async () => {
    const c = await docker.createContainer({ Image: IMG, Cmd: ['cat', '/vol1/passwd'], Volumes: { '/vol1': {} } });
    const put = await d.api('PUT', `/containers/${c.id}/archive?path=/vol1`, tarOf(join(work, 'rootfs', 'etc')), { 'content-type': 'application/x-tar' });
    assert.equal(put.status, 200, put.text);
    await c.start();
    await c.wait();
    const logs = (await c.logs({ stdout: true })) as unknown as Buffer;
    assert.match(logs.toString('latin1'), /root:x:0:0/);
    await c.remove({ v: true });
  });

  test('distribution and search from a loopback registry: the descriptor and platforms as dockerd gives them; a registry without search is named', async () => {
    assert.equal(d.docker(['tag', IMG, `${reg.addr}/fid/busybox:1`]).code, 0);
    assert.equal(d.docker(['push', `${reg.addr}/fid/busybox:1`]).code, 0);
    const dist = await d.api('GET', `/distribution/${reg.addr}/fid/busybox:1/json`);
    assert.equal(dist.status, 200, dist.text);
    assert.match(dist.json.Descriptor.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(dist.json.Descriptor.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.deepEqual(dist.json.Platforms, [{ architecture: process.arch === 'x64' ? 'amd64' : process.arch, os: 'linux' }]);
    const missing = await d.api('GET', `/distribution/${reg.addr}/fid/nope:1/json`);
    assert.equal(missing.status, 404);
    const search = d.docker(['search', `${reg.addr}/fid`]);
    assert.notEqual(search.code, 0);
    assert.match(search.err, /does not offer search/);
  });

  test('docker login against berthd checks the credentials at the registry (POST /auth)', async () => {
    const dir = join(work, 'auth-registry');
    mkdirSync(dir, { recursive: true });
    const made = spawnSync('htpasswd', ['-Bbn', 'fid', 'pw0rd'], { encoding: 'utf8' });
    assert.equal(made.status, 0, 'htpasswd (apache2-utils) is installed by test/setup.sh');
    writeFileSync(join(dir, 'htpasswd'), made.stdout);
    const auth = await startRegistry(join(dir, 'reg'), { htpasswd: join(dir, 'htpasswd') });
    try {
      const ok = d.docker(['login', '-u', 'fid', '--password-stdin', auth.addr], 'pw0rd\n');
      assert.equal(ok.code, 0, ok.err);
      assert.match(ok.out, /Login Succeeded/);
      const bad = d.docker(['login', '-u', 'fid', '--password-stdin', auth.addr], 'wrong\n');
      assert.notEqual(bad.code, 0);
      assert.match(bad.err, /login attempt to http:\/\/127\.0\.0\.1:\d+\/v2\/ failed with status: 401 Unauthorized/);
      // a pull carries the client's credentials (X-Registry-Auth); berthd has none of its own for this registry
      const priv = `${auth.addr}/fid/private:1`;
      assert.equal(d.docker(['tag', IMG, priv]).code, 0);
      assert.equal(d.docker(['push', priv]).code, 0);
      assert.equal(d.docker(['rmi', priv]).code, 0);
      const pulled = d.docker(['pull', priv]);
      assert.equal(pulled.code, 0, pulled.err);
      assert.equal(d.docker(['rmi', priv]).code, 0);
      // berth pull hands the pull to the berthd that serves its store, with the credentials of its login
      const noCreds = d.berth(['pull', priv], '', 60000, { ...process.env, DOCKER_CONFIG: join(dir, 'none') });
      assert.equal(noCreds.code, 1);
      assert.match(noCreds.err, /^Error response from daemon: .*authentication required/m);
      const since = (Date.now() / 1000).toFixed(3);
      const viaDaemon = d.berth(['pull', priv], '', 60000, d.env());
      assert.equal(viaDaemon.code, 0, viaDaemon.err);
      assert.match(viaDaemon.out, /^1: Pulling from 127\.0\.0\.1:\d+\/fid\/private\n(.*: Already exists\n)+Digest: sha256:[0-9a-f]{64}\nStatus: (Downloaded newer image|Image is up to date) for 127\.0\.0\.1:\d+\/fid\/private:1\n/);
      const events = d.docker(['events', '--since', since, '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'type=image', '--format', '{{.Action}}']);
      assert.equal(events.out, 'pull\n', 'one pull event: the daemon\'s, not also the CLI\'s');
      // with $NODE_EXTRA_CA_CERTS set, a CLI worker may take the pull (berthd pulls: the CLI makes no TLS
      // connection); a Node CLI would load them and warn of the missing file. Without a daemon, the Node CLI gets them.
      const ca = { NODE_EXTRA_CA_CERTS: join(dir, 'no-such-ca.pem') };
      let handed = d.berth(['pull', '-q', priv], '', 60000, { ...d.env(), ...ca });
      for (let i = 0; i < 5 && /extra certs/.test(handed.err); i++) { // no worker ready yet: the front ran the Node CLI
        await new Promise((r) => setTimeout(r, 300));
        handed = d.berth(['pull', '-q', priv], '', 60000, { ...d.env(), ...ca });
      }
      assert.equal(handed.code, 0, handed.err);
      assert.doesNotMatch(handed.err, /extra certs/);
      const alone = spawnSync(BERTH, ['--data-root', join(dir, 'alone'), 'pull', '-q', '127.0.0.1:1/fid/nope:x'], { encoding: 'utf8', env: { ...process.env, ...ca } });
      assert.equal(alone.status, 1);
      assert.match(alone.stderr, /Ignoring extra certs from `.*no-such-ca\.pem`/);
    } finally { await auth.stop(); }
  });

  test('berth run: a failed pull prints the daemon\'s message alone, with docker run\'s exit code 125; berth pull and load word their failures as the daemon\'s', () => {
    const r = d.berth(['run', '--rm', '127.0.0.1:1/fid/nope:x', 'true']);
    assert.equal(r.code, 125);
    assert.match(r.err, /^Unable to find image '127\.0\.0\.1:1\/fid\/nope:x' locally\nError response from daemon: 127\.0\.0\.1:1: cannot reach/);
    assert.doesNotMatch(r.err, /\{"message"/);
    const pulled = d.berth(['pull', '127.0.0.1:1/fid/nope:x']);
    assert.equal(pulled.code, 1);
    assert.match(pulled.err, /^Error response from daemon: 127\.0\.0\.1:1: cannot reach/m);
    const loaded = d.berth(['load'], 'not a tar at all'.repeat(100));
    assert.equal(loaded.code, 1);
    assert.match(loaded.err, /^Error response from daemon: Error processing tar file: /);
  });
});
