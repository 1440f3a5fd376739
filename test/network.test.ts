// Networks through the docker CLI against berthd, on real bridges, veths and
// nftables: the default bridge, user-defined networks, published ports,
// connect to a running container, internal networks, bad input, a crash of
// berthd with ports published. Traffic goes only to the host's loopback and
// to the containers' own namespaces. Nothing is left behind.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { closeSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { get } from 'node:http';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { PREFIX } from './helpers/env.js';
import { makeRootfs } from './helpers/make-bundle.js';
import { tarOf } from './helpers/oci-image.js';
import { PrivateBerthd, dockerBin } from './helpers/berthd.js';
import { bridgePlan, endpointPlan, planText } from '../src/network/links.js';
import { ruleset } from '../src/network/firewall.js';
import { proxyPlan } from '../src/network/proxy.js';
import { formatIp, formatSubnet, parseIp, parseSubnet, pickSubnet, hostHasIpv6, hostRoutes, hostRoutes6, ulaSubnet } from '../src/network/ipam.js';
import type { NetworkRecord } from '../src/network/index.js';
import { NetworkFiles } from '../src/network/records.js';
import { FAST_PATH_PROG, fastPathProgram } from '../src/network/fastpath.js';
import { fsx } from '../src/util/fsx.js';

/** Whether this kernel takes the fast path's program at a link's ingress (tcx, bpf_redirect_peer): tried on a veth pair of the test's own. */
function fastPathHere(): boolean {
  const dev = `bfp${process.pid % 1e6}`;
  if (spawnSync('ip', ['link', 'add', dev, 'type', 'veth', 'peer', 'name', `${dev}p`]).status !== 0) return false;
  try {
    const map = fsx().netBpf('map', 'berth_probe');
    try {
      const prog = fsx().netBpf('load', FAST_PATH_PROG, fastPathProgram(map));
      try { fsx().netBpf('attach', dev, prog, FAST_PATH_PROG); return true; } finally { closeSync(prog); }
    } finally { closeSync(map); }
  } catch { return false; } finally { spawnSync('ip', ['link', 'del', dev]); }
}

const IMG = 'berth-test/netbox:1';
const require = createRequire(import.meta.url);
const ipv6Host = hostHasIpv6();
const work = mkdtempSync(join(tmpdir(), `${PREFIX}-net-`));

/** An HTTP GET of the host's loopback; the body, or the error's code. */
function fetchText(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((res) => {
    const r = get({ host, port, path: '/', timeout: 5000 }, (m) => { let t = ''; m.on('data', (d) => { t += d; }); m.on('end', () => res(t)); });
    r.on('error', (e: NodeJS.ErrnoException) => res(`error ${e.code}`));
    r.on('timeout', () => { r.destroy(); res('error timeout'); });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** fetchText once the container's server listens: `run -d` returns before its process has bound the port. */
async function fetchWhenUp(port: number): Promise<string> {
  let got = await fetchText(port);
  for (let i = 0; i < 30 && got === 'error ECONNREFUSED'; i++) { await sleep(100); got = await fetchText(port); }
  return got;
}

describe('plans and rules (no root)', () => {
  test('IPAM: subnets and addresses as docker writes them; the default pools skip what the host routes', () => {
    assert.equal(formatIp(6, parseIp('fd00::1', 'x').value), 'fd00::1');
    assert.equal(formatIp(4, parseIp('10.1.2.3', 'x').value), '10.1.2.3');
    assert.throws(() => parseSubnet('10.1.2.3/16', 'Subnet'), /it should be 10\.1\.0\.0\/16/);
    assert.throws(() => parseSubnet('10.1.0.0/33', 'Subnet'), /prefix is longer/);
    assert.throws(() => parseIp('300.1.1.1', 'Gateway'), /Gateway: invalid IP address: 300\.1\.1\.1/);
    const routes = hostRoutes('Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n' +
      'eth0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\ndocker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\n');
    assert.deepEqual(routes.map((r) => `${formatIp(4, r.base)}/${r.bits}`), ['172.17.0.0/16']);
    assert.equal(`${formatIp(4, pickSubnet(routes).base)}`, '172.18.0.0');
    // IPv6: the host's routes (a new network must not overlap them either), and docker's unique local /64 when --ipv6 names no subnet
    const six = hostRoutes6('fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n' +
      '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000001 00000000 00000003     eth0\n');
    assert.deepEqual(six.map(formatSubnet), ['fd00::/64']);
    assert.equal(formatSubnet(ulaSubnet(Buffer.from('0123456789', 'hex'))), 'fd01:2345:6789::/64');
  });

  test('a container\'s links are one plan: its veth end made in its namespace, named, addressed and routed there', () => {
    assert.equal(planText(bridgePlan('br-x', 0, ['172.20.0.1/16'])), 'sysctl net/ipv4/ip_forward 1\nbridge br-x 0\naddr br-x 172.20.0.1/16\nsysctl net/ipv4/conf/br-x/route_localnet 1\nup br-x\n');
    assert.equal(planText(endpointPlan({ bridge: 'br-x', hostLink: 'bv0123456789ab', mtu: 0, netns: '/proc/9/ns/net', ifname: 'eth0', mac: '02:42:ac:14:00:02', addresses: ['172.20.0.2/16'], gateways: ['172.20.0.1'] })),
      'veth bv0123456789ab bv0123456789abp 0 /proc/9/ns/net\nmaster bv0123456789ab br-x\nhairpin bv0123456789ab\nup bv0123456789ab\nnetns /proc/9/ns/net\nup lo\nrename bv0123456789abp eth0\n' +
      'mac eth0 02:42:ac:14:00:02\naddr eth0 172.20.0.2/16\nup eth0\nroute 0.0.0.0/0 172.20.0.1\nnetns host\n');
  });

  test('the firewall is one table: DNAT for published ports, masquerade out, isolation between networks, none left when no bridge is', () => {
    const net = (name: string, bridge: string, subnet: string, internal: boolean, endpoints: NetworkRecord['Endpoints']): NetworkRecord => ({
      Name: name, Id: name, Created: '', Scope: 'local', Driver: 'bridge', EnableIPv6: false, IPAM: { Driver: 'default', Options: {}, Config: [{ Subnet: subnet, Gateway: '' }] },
      Internal: internal, Attachable: false, Ingress: false, ConfigFrom: { Network: '' }, ConfigOnly: false, Options: {}, Labels: {}, Bridge: bridge, Mtu: 0, Endpoints: endpoints,
    });
    const ep = { EndpointID: 'e', ContainerID: 'c', Name: 'web', IPv4Address: '172.18.0.2/16', IPv6Address: '', MacAddress: '', Aliases: [], HostLink: 'bv1', Ports: [{ proto: 'tcp' as const, hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80 }, { proto: 'udp' as const, hostIp: '0.0.0.0', hostPort: 5353, containerPort: 53 }] };
    assert.equal(ruleset('berth', []), '');
    assert.ok(!ruleset('berth', [net('bridge', 'berth0', '172.18.0.0/16', false, {})]).includes('dnat ip'), 'a bridge without published ports has no DNAT');
    const text = ruleset('berth', [net('bridge', 'berth0', '172.18.0.0/16', false, { c: ep }), net('quiet', 'br-q', '172.19.0.0/16', true, {})]);
    for (const line of ['meta nfproto ipv4 ip daddr 127.0.0.1 tcp dport 8080 dnat ip to 172.18.0.2:80', 'meta nfproto ipv4 udp dport 5353 dnat ip to 172.18.0.2:53', 'ip saddr 172.18.0.0/16 oifname != "berth0" masquerade',
      'iifname "berth0" oifname { "br-q" } drop', 'iifname "br-q" oifname != "br-q" drop', 'fib daddr type local jump published']) assert.ok(text.includes(line), `${line}\n${text}`);
    assert.ok(!text.includes('ip saddr 172.19.0.0/16 oifname != "br-q" masquerade'), 'an internal network has no way out');
    // a published port is reached from another network (both ways of the DNATed connection), but not from an internal one
    assert.match(text, /oifname "br-q" iifname != "br-q" drop\n\s+ct status dnat accept\n\s+iifname "berth0" oifname \{ "br-q" \} drop/);
    assert.ok(!text.includes('ipv6'), 'no IPv6 rule for a network without IPv6');
    // IPv6: its subnet masqueraded, its ports published on the host's IPv6 addresses too (but for one bound to 127.0.0.1)
    const ep6 = { ...ep, IPv4Address: '172.21.0.2/16', IPv6Address: 'fd00:1::2/64', Ports: [...ep.Ports, { proto: 'udp' as const, hostIp: '::', hostPort: 5353, containerPort: 53 }] };
    const six = { ...net('six', 'br-6', '172.21.0.0/16', false, { c: ep6 }), EnableIPv6: true };
    six.IPAM.Config.push({ Subnet: 'fd00:1::/64', Gateway: 'fd00:1::1' });
    const text6 = ruleset('berth', [six]);
    for (const line of ['ip6 saddr fd00:1::/64 oifname != "br-6" masquerade', 'meta nfproto ipv6 ip6 daddr != ::1 udp dport 5353 dnat ip6 to [fd00:1::2]:53', 'meta nfproto ipv4 udp dport 5353 dnat ip to 172.21.0.2:53']) assert.ok(text6.includes(line), `${line}\n${text6}`);
    assert.ok(!text6.includes('dport 8080 dnat ip6'), 'a port bound to 127.0.0.1 is not published on IPv6');
    // outside traffic must pass the host's input chain: no DNAT before it (prerouting), the host's own traffic still DNATed (output)
    const obeying = ruleset('berth', [six], true);
    assert.match(obeying, /chain prerouting \{\n\s+type nat hook prerouting priority dstnat; policy accept;\n\s+\}/);
    assert.match(obeying, /chain output \{\n.*\n\s+fib daddr type local jump published/);
  });

  test('the splice forwarder takes what the kernel cannot: IPv6 loopback, IPv6 to a container without it, and every TCP port when the input chain must decide', () => {
    const ports = [{ proto: 'tcp' as const, hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80 }, { proto: 'tcp' as const, hostIp: '::', hostPort: 8080, containerPort: 80 },
      { proto: 'udp' as const, hostIp: '::', hostPort: 53, containerPort: 53 }];
    const e = { EndpointID: 'e', ContainerID: 'c', Name: 'web', IPv4Address: '172.18.0.2/16', IPv6Address: '', MacAddress: '', Aliases: [], HostLink: 'bv1', Ports: ports };
    assert.deepEqual(proxyPlan(e, false), [{ listenIp: '::', listenPort: 8080, targetIp: '172.18.0.2', targetPort: 80 }], 'IPv6 to an IPv4-only container: all of it');
    assert.deepEqual(proxyPlan({ ...e, IPv6Address: 'fd00:1::2/64' }, false), [{ listenIp: '::1', listenPort: 8080, targetIp: 'fd00:1::2', targetPort: 80 }], 'with IPv6: only loopback');
    assert.deepEqual(proxyPlan({ ...e, Ports: [ports[0]!] }, false), [], 'IPv4 is the kernel\'s');
    assert.deepEqual(proxyPlan(e, true).map((l) => `${l.listenIp}:${l.listenPort}`), ['0.0.0.0:8080', ':::8080'], 'every TCP port, when the input chain decides; UDP never');
  });

  test('a network\'s definition is written once, durably; its endpoints (running containers\') beside it, and a record that still holds them is read', () => {
    const dir = mkdtempSync(join(tmpdir(), `${PREFIX}records-`));
    try {
      const files = new NetworkFiles(dir);
      const ep = { EndpointID: 'e', ContainerID: 'c1', Name: 'web', IPv4Address: '172.20.0.2/16', IPv6Address: '', MacAddress: '', Aliases: [], HostLink: 'bv1', Ports: [] };
      const n = { Name: 'n1', Id: 'id1', IPAM: { Driver: 'default', Options: {}, Config: [] }, Endpoints: { c1: ep } } as unknown as NetworkRecord;
      files.save(n);
      assert.deepEqual(JSON.parse(readFileSync(join(dir, 'id1.json'), 'utf8')).Endpoints, {}, 'the definition holds no endpoint');
      assert.deepEqual(files.load()[0]!.Endpoints, {});
      files.saveEndpoints(n);
      assert.deepEqual(files.load().map((r) => [r.Name, Object.keys(r.Endpoints)]), [['n1', ['c1']]]);
      // written before endpoints had a file of their own
      writeFileSync(join(dir, 'id2.json'), JSON.stringify({ ...n, Name: 'n2', Id: 'id2' }));
      writeFileSync(join(dir, '.id2.json.77.tmp'), '{"half');
      assert.deepEqual(files.load().map((r) => [r.Name, Object.keys(r.Endpoints)]).sort(), [['n1', ['c1']], ['n2', ['c1']]]);
      assert.ok(!existsSync(join(dir, '.id2.json.77.tmp')), 'a crash\'s temp file is dropped');
      files.remove('id1');
      assert.deepEqual(files.load().map((r) => r.Name), ['n2']);
      assert.ok(!existsSync(join(dir, 'id1.endpoints.json')));
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});

/**
 * A resolver on the host's loopback that knows one name: berthd forwards
 * there, and nowhere else. Its own process: the docker CLI calls of the
 * tests block this one's event loop.
 */
const UPSTREAM = '127.0.0.153';
const UPSTREAM_JS = `
const dns = require(${JSON.stringify(require.resolve('dns-packet'))}), net = require('net'), dgram = require('dgram');
const answer = (m) => {
  const q = dns.decode(m), name = q.questions[0] ? q.questions[0].name : '';
  const answers = name === 'upstream.test' && q.questions[0].type === 'A' ? [{ type: 'A', name, ttl: 60, class: 'IN', data: '10.9.9.9' }] : [];
  return dns.encode({ id: q.id, type: 'response', flags: name === 'upstream.test' ? 0 : 3, questions: q.questions, answers });
};
const udp = dgram.createSocket('udp4');
udp.on('message', (m, f) => udp.send(answer(m), f.port, f.address));
const tcp = net.createServer((c) => c.once('data', (b) => { const a = answer(b.subarray(2)); c.end(Buffer.concat([Buffer.from([a.length >> 8, a.length & 255]), a])); }));
udp.bind(53, '${UPSTREAM}', () => tcp.listen(53, '${UPSTREAM}', () => console.log('ready')));
`;
function startUpstream(): Promise<ChildProcess> {
  const p = spawn(process.execPath, ['-e', UPSTREAM_JS], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((res, rej) => { p.stdout!.once('data', () => res(p)); p.once('exit', (c) => rej(new Error(`the test resolver exited ${c}`))); });
}

/**
 * A query for an A record over TCP to 127.0.0.11:53 inside the network
 * namespace of process `pid`, as a resolver asks when UDP's answer was
 * truncated: the addresses answered.
 */
function askTcpIn(pid: number, name: string): string[] {
  const js = `const dns = require(${JSON.stringify(require.resolve('dns-packet'))});
    const c = require('net').createConnection(53, '127.0.0.11', () => c.write(dns.streamEncode({ type: 'query', id: 7, flags: dns.RECURSION_DESIRED, questions: [{ type: 'A', name: ${JSON.stringify(name)} }] })));
    let buf = Buffer.alloc(0);
    c.on('data', (b) => { buf = Buffer.concat([buf, b]); if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) { c.destroy(); console.log(JSON.stringify((dns.streamDecode(buf).answers || []).map((a) => a.data))); } });
    c.on('error', (e) => console.log(JSON.stringify(e.code))); c.setTimeout(5000, () => { c.destroy(); console.log('"timeout"'); });`;
  const r = spawnSync('nsenter', ['-t', String(pid), '-n', process.execPath, '-e', js], { encoding: 'utf8' });
  return JSON.parse(r.stdout || `"${r.stderr}"`) as string[];
}

describe('networks through the docker CLI', () => {
  const resolvConf = join(work, 'resolv.conf');
  writeFileSync(resolvConf, `nameserver ${UPSTREAM}\n`);
  const d = new PrivateBerthd({ env: { BERTH_RESOLV_CONF: resolvConf } });
  let hostListener: Server | undefined;
  let upstream: ChildProcess | undefined;
  before(async () => {
    upstream = await startUpstream();
    makeRootfs(join(work, 'rootfs'));
    writeFileSync(join(work, 'rootfs.tar'), tarOf(join(work, 'rootfs')));
    await d.start();
    const r = d.berth(['import', '-c', 'CMD ["sh"]', join(work, 'rootfs.tar'), IMG]);
    assert.equal(r.code, 0, r.err);
  });
  after(async () => {
    hostListener?.close();
    upstream?.kill();
    await d.stop();
    assert.deepEqual(d.netLeftovers(), [], 'no table, bridge or veth of this daemon stays');
    rmSync(work, { recursive: true, force: true });
  });

  const web = (name: string, extra: string[] = [], text = name) => {
    const r = d.docker(['run', '-d', '--name', name, ...extra, IMG, 'sh', '-c', `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 80 -h /www`]);
    assert.equal(r.code, 0, r.err);
    return r.out.trim();
  };
  /** The body of GET / at ip:80, fetched from inside `from` with nc (busybox's static wget crashes on Debian). */
  const getFrom = (from: string, ip: string, port = 80) => d.docker(['exec', from, 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${ip} ${port} | tail -1`]).out;
  const ipOf = (name: string, net = 'bridge') => d.docker(['inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, name]).out.trim();

  test('the default bridge: each container has its own eth0 and lo, an address, a route out, and reaches the others by address', () => {
    web('wa');
    web('wb');
    const inA = d.docker(['exec', 'wa', 'sh', '-c', 'ls /sys/class/net; ip route 2>/dev/null || route -n']);
    assert.match(inA.out, /^eth0\nlo\n/);
    const ipA = ipOf('wa'), ipB = ipOf('wb');
    assert.match(ipA, /^\d+\.\d+\.\d+\.\d+$/);
    assert.notEqual(ipA, ipB);
    assert.equal(getFrom('wb', ipA), 'wa\n');
    const bridge = JSON.parse(d.docker(['network', 'inspect', 'bridge']).out)[0];
    assert.equal(bridge.Driver, 'bridge');
    assert.ok(bridge.IPAM.Config[0].Gateway, 'testcontainers reads the gateway here');
    assert.equal(Object.keys(bridge.Containers).length, 2);
    const s = JSON.parse(d.docker(['inspect', 'wa']).out)[0].NetworkSettings;
    assert.equal(s.IPAddress, ipA);
    assert.equal(s.Networks.bridge.Gateway, bridge.IPAM.Config[0].Gateway);
    assert.match(s.Networks.bridge.MacAddress, /^02:42:/);
    assert.match(d.docker(['exec', 'wa', 'cat', '/etc/hosts']).out, new RegExp(`${ipA.replace(/\./g, '\\.')}\\t[0-9a-f]{12}\\n$`));
    // a legacy link names the linked container in /etc/hosts; --add-host host-gateway is the bridge's gateway
    const hosts = d.docker(['run', '--rm', '--link', 'wa:webby', '--add-host', 'outside:host-gateway', IMG, 'cat', '/etc/hosts']).out;
    assert.match(hosts, new RegExp(`\\n${ipA.replace(/\./g, '\\.')}\\twebby [0-9a-f]{12} wa\\n`));
    assert.match(hosts, new RegExp(`\\n${bridge.IPAM.Config[0].Gateway.replace(/\./g, '\\.')}\\toutside\\n`));
    assert.equal(d.docker(['rm', '-f', 'wa', 'wb']).code, 0);
  });

  test('the seeds\' demonstration: two containers listen on port 80 at once, and so can the host; -p publishes each without a proxy', async (t) => {
    t.after(() => { d.docker(['rm', '-f', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']); });
    web('p1', ['-p', '127.0.0.1:18081:80']);
    web('p2', ['-p', '18082:80']);
    hostListener = createServer().listen(18083, '127.0.0.1');
    assert.equal(await fetchWhenUp(18081), 'p1\n');
    assert.equal(await fetchWhenUp(18082), 'p2\n');
    assert.equal(d.docker(['port', 'p1']).out, '80/tcp -> 127.0.0.1:18081\n');
    const ports = JSON.parse(d.docker(['inspect', 'p2']).out)[0].NetworkSettings.Ports;
    // no host address: every IPv4 address and, on a host with IPv6, every IPv6 one, as docker shows it
    assert.deepEqual(ports['80/tcp'], [{ HostIp: '0.0.0.0', HostPort: '18082' }, ...(ipv6Host ? [{ HostIp: '::', HostPort: '18082' }] : [])]);
    if (ipv6Host) assert.equal(await fetchText(18082, '::1'), 'p2\n', 'IPv6 loopback: the splice forwarder');
    assert.match(d.docker(['ps', '--format', '{{.Names}} {{.Ports}}']).out, /p2 0\.0\.0\.0:18082->80\/tcp/);
    // -P: a free host port for each exposed port
    const p3 = d.docker(['run', '-d', '--name', 'p3', '--expose', '80', '-P', IMG, 'sh', '-c', 'mkdir -p /w && echo p3 > /w/index.html && exec httpd -f -p 80 -h /w']);
    assert.equal(p3.code, 0, p3.err);
    const port3 = Number(/:(\d+)$/.exec(d.docker(['port', 'p3', '80']).out.trim())?.[1]);
    assert.ok(port3 >= 32768 && port3 <= 60999, String(port3));
    assert.equal(await fetchWhenUp(port3), 'p3\n');
    // a host range for one container port is the first free port of it (docker's HostPort "A-B"); HostPort "0" is any free port (testcontainers sends it)
    web('p5', ['-p', '18084-18086:80']);
    web('p6', ['-p', '127.0.0.1:18084-18086:80']);
    assert.equal(d.docker(['port', 'p5', '80']).out.split('\n')[0], '0.0.0.0:18084');
    assert.equal(d.docker(['port', 'p6', '80']).out, '127.0.0.1:18085\n');
    assert.equal(await fetchWhenUp(18085), 'p6\n');
    const zero = await d.api('POST', '/containers/create?name=p7', JSON.stringify({ Image: IMG, Cmd: ['sleep', '30'], HostConfig: { PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '0' }] } } }));
    assert.equal(zero.status, 201, zero.text);
    assert.equal(d.docker(['start', 'p7']).code, 0);
    assert.match(JSON.parse(d.docker(['inspect', 'p7']).out)[0].NetworkSettings.Ports['80/tcp']?.[0]?.HostPort ?? '', /^[1-9]\d+$/);
    // no process holds the published ports: the kernel forwards them
    const holders = spawnSync('sh', ['-c', 'cat /proc/net/tcp | awk \'$4=="0A"{print $2}\' | grep -ci ":46A1$" || true'], { encoding: 'utf8' }).stdout.trim();
    assert.equal(holders, '0', 'nothing listens on 18081 on the host');
    // a host port in use is refused: by berth, and by another program
    const again = d.docker(['run', '-d', '--name', 'p4', '-p', '18082:80', IMG, 'true']);
    assert.notEqual(again.code, 0);
    assert.match(again.err, /Bind for 0\.0\.0\.0:18082 failed: port is already allocated/);
    const busy = d.docker(['run', '--rm', '-p', '18083:80', IMG, 'true']);
    assert.match(busy.err, /18083: bind: address already in use/);
    assert.equal(d.docker(['rm', '-f', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']).code, 0);
    assert.match(await fetchText(18082), /^error/);
  });

  test('hairpin: a published port at a host address answers a container of its network, the container itself, and one of another network', async (t) => {
    t.after(() => { d.docker(['rm', '-f', 'h1', 'h2', 'h3']); d.docker(['network', 'rm', 'hair']); });
    assert.equal(d.docker(['network', 'create', 'hair']).code, 0);
    web('h1', ['--network', 'hair', '-p', '18091:80']);
    web('h2', ['--network', 'hair']);
    web('h3', ['-p', '18092:80']);
    assert.equal(await fetchWhenUp(18091), 'h1\n');
    assert.equal(await fetchWhenUp(18092), 'h3\n');
    // a host address every host has: the gateways, the bridges' own addresses
    const hairGw = d.docker(['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Gateway}}', 'hair']).out.trim();
    const bridgeGw = d.docker(['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Gateway}}', 'bridge']).out.trim();
    // with br_netfilter (docker loads it) bridged frames pass the IP hooks, and a frame DNATed to its sender goes back out its port; without it the host routes them
    const brNf = '/proc/sys/net/bridge/bridge-nf-call-iptables';
    const was = existsSync(brNf) ? readFileSync(brNf, 'utf8').trim() : undefined;
    try {
      for (const nf of was === undefined ? [undefined] : ['1', '0']) {
        if (nf !== undefined) writeFileSync(brNf, nf);
        for (const host of [hairGw, bridgeGw]) {
          const how = `at ${host}, bridge-nf-call-iptables ${nf ?? 'absent'}`;
          assert.equal(getFrom('h2', host, 18091), 'h1\n', `another container of its network, ${how}`);
          assert.equal(getFrom('h1', host, 18091), 'h1\n', `the container itself, ${how} (hairpin_mode on its bridge port)`);
          assert.equal(getFrom('h2', host, 18092), 'h3\n', `a container of another network, ${how}`);
        }
      }
    } finally { if (was !== undefined) writeFileSync(brNf, was); }
    // the networks stay isolated but for published ports
    assert.equal(getFrom('h2', ipOf('h3')), '');
  });

  test('user-defined networks: subnet, static IP, connect to a running container, isolation, internal', (t) => {
    t.after(() => { d.docker(['rm', '-f', 'f1', 'k1']); d.docker(['network', 'rm', 'front', 'back']); });
    assert.equal(d.docker(['network', 'create', '--subnet', '10.231.0.0/24', '--gateway', '10.231.0.1', '--label', 'k=v', 'front']).code, 0);
    assert.equal(d.docker(['network', 'create', '--internal', 'back']).code, 0);
    assert.match(d.docker(['network', 'ls', '--filter', 'label=k=v', '--format', '{{.Name}}']).out, /^front\n$/);
    web('f1', ['--network', 'front', '--ip', '10.231.0.50']);
    assert.equal(ipOf('f1', 'front'), '10.231.0.50');
    web('k1', ['--network', 'back']);
    assert.doesNotMatch(d.docker(['exec', 'k1', 'sh', '-c', 'ip route 2>/dev/null || route -n']).out, /default|^0\.0\.0\.0/m, 'an internal network has no route out');
    // isolated: back cannot reach front
    assert.equal(getFrom('k1', '10.231.0.50'), '');
    // connect k1 to front while it runs: it gets eth1 at once, and reaches f1
    assert.equal(d.docker(['network', 'connect', '--alias', 'kay', 'front', 'k1']).code, 0);
    assert.match(d.docker(['exec', 'k1', 'ls', '/sys/class/net']).out, /^eth0\neth1\nlo\n$/);
    assert.equal(getFrom('k1', '10.231.0.50'), 'f1\n');
    const k1 = JSON.parse(d.docker(['inspect', 'k1']).out)[0].NetworkSettings.Networks;
    assert.deepEqual(Object.keys(k1).sort(), ['back', 'front']);
    assert.deepEqual(k1.front.Aliases, ['kay']);
    assert.equal(d.docker(['network', 'disconnect', 'front', 'k1']).code, 0);
    assert.match(d.docker(['exec', 'k1', 'ls', '/sys/class/net']).out, /^eth0\nlo\n$/);
    // refusals, with docker's codes
    assert.match(d.docker(['network', 'rm', 'front']).err, /has active endpoints/);
    assert.match(d.docker(['network', 'rm', 'bridge']).err, /pre-defined network and cannot be removed/);
    assert.equal(d.docker(['rm', '-f', 'f1', 'k1']).code, 0);
    assert.equal(d.docker(['network', 'rm', 'front', 'back']).code, 0);
  });

  test('the fast path: traffic between containers of one network skips the bridge and the host\'s IP hooks; an address taken again reaches its new container; a restarted daemon takes it over', async (t) => {
    const table = `${PREFIX.replace(/[^a-z0-9]/gi, '_')}fastpath`;
    t.after(() => { d.docker(['rm', '-f', 'fa', 'fb', 'fc', 'fd']); d.docker(['network', 'rm', 'fast']); spawnSync('nft', ['delete', 'table', 'inet', table]); });
    assert.equal(d.docker(['network', 'create', '--subnet', '10.232.0.0/24', 'fast']).code, 0);
    web('fa', ['--network', 'fast', '--ip', '10.232.0.10']);
    web('fb', ['--network', 'fast', '--ip', '10.232.0.11']);
    // the host's forward hook counts what it sees between the two (br_netfilter passes bridged frames to it)
    const nft = spawnSync('nft', ['-f', '-'], { input: `table inet ${table} {\n chain seen {\n type filter hook forward priority -10; policy accept;\n ip saddr 10.232.0.0/24 ip daddr 10.232.0.0/24 counter\n }\n}\n`, encoding: 'utf8' });
    assert.equal(nft.status, 0, nft.stderr);
    const seen = () => Number(/packets (\d+)/.exec(spawnSync('nft', ['list', 'chain', 'inet', table, 'seen'], { encoding: 'utf8' }).stdout)?.[1] ?? -1);
    assert.equal(getFrom('fb', '10.232.0.10'), 'fa\n');
    assert.equal(getFrom('fa', '10.232.0.11'), 'fb\n');
    // a kernel without tcx or bpf_redirect_peer: berthd says so and the bridge carries it, through the hooks, as docker's does
    const fast = fastPathHere();
    if (!fast) t.diagnostic('this kernel cannot attach the fast path (tcx, bpf_redirect_peer): the bridge carries traffic between containers');
    const brNetfilter = (() => { try { return readFileSync('/proc/sys/net/bridge/bridge-nf-call-iptables', 'utf8').trim() === '1'; } catch { return false; } })();
    if (fast) assert.equal(seen(), 0, 'container to container went past the host\'s hooks');
    else if (brNetfilter) assert.ok(seen() > 0, 'without the fast path, br_netfilter passes bridged frames to the hooks');
    // fa goes; its address (and so its MAC) is taken again: frames to it reach fc, not fa's gone veth
    assert.equal(d.docker(['rm', '-f', 'fa']).code, 0);
    web('fc', ['--network', 'fast', '--ip', '10.232.0.10']);
    assert.equal(getFrom('fb', '10.232.0.10'), 'fc\n');
    await d.crash();
    await d.start();
    assert.equal(getFrom('fb', '10.232.0.10'), 'fc\n');
    if (fast) assert.equal(seen(), 0);
    // another network's container is still refused (by the host's isolation rules)
    web('fd');
    assert.equal(getFrom('fb', ipOf('fd')), '');
  });

  test('embedded DNS on a user-defined network: names and aliases over UDP and TCP, other names from the host\'s resolver; none on the default bridge', async (t) => {
    t.after(() => { d.docker(['rm', '-f', 'dn1']); d.docker(['network', 'rm', 'dnsnet']); });
    assert.equal(d.docker(['network', 'create', 'dnsnet']).code, 0);
    assert.equal(d.docker(['run', '-d', '--name', 'dn1', '--network', 'dnsnet', '--network-alias', 'dee', IMG, 'sleep', '60']).code, 0);
    const ip = ipOf('dn1', 'dnsnet');
    const look = (net: string, name: string) => d.docker(['run', '--rm', '--network', net, IMG, 'sh', '-c', `cat /etc/resolv.conf; nslookup ${name}`]);
    const byName = look('dnsnet', 'dn1');
    assert.match(byName.out, /^nameserver 127\.0\.0\.11\n/, 'docker\'s address, in the container\'s own namespace');
    assert.match(byName.out, /\noptions ndots:0\n/);
    assert.match(byName.out, new RegExp(`Address:? ${ip.replace(/\./g, '\\.')}`));
    assert.match(look('dnsnet', 'dee').out, new RegExp(`Address:? ${ip.replace(/\./g, '\\.')}`));
    assert.match(look('dnsnet', 'upstream.test').out, /Address:? 10\.9\.9\.9/, 'other names go to the host\'s resolver (the test\'s)');
    assert.doesNotMatch(look('bridge', 'dn1').out, new RegExp(ip.replace(/\./g, '\\.')), 'the default bridge resolves no container names');
    // TCP, in dn1's namespace: local names, and forwarded ones over TCP
    const pid = Number(d.docker(['inspect', '-f', '{{.State.Pid}}', 'dn1']).out.trim());
    assert.deepEqual(askTcpIn(pid, 'dee'), [ip]);
    assert.deepEqual(askTcpIn(pid, 'upstream.test'), ['10.9.9.9']);
    // a restarted berthd answers again (its sockets went with the old one)
    await d.crash();
    await d.start();
    assert.deepEqual(askTcpIn(pid, 'dn1'), [ip]);
  });

  test('IPv6: a network with an IPv6 subnet gives each container an address of it and a route, names answer AAAA, ports publish on the host\'s IPv6 addresses', async (t) => {
    if (!existsSync('/proc/net/if_inet6')) {
      t.diagnostic('this kernel has no IPv6: network create --ipv6 must fail with the kernel\'s words');
      assert.notEqual(d.docker(['network', 'create', '--ipv6', '--subnet', 'fd0c:b:1::/64', 'v6net']).code, 0);
      return;
    }
    t.after(() => { d.docker(['rm', '-f', 's6']); d.docker(['network', 'rm', 'v6net']); });
    assert.equal(d.docker(['network', 'create', '--ipv6', '--subnet', 'fd0c:b:1::/64', 'v6net']).code, 0);
    const overlap = d.docker(['network', 'create', '--ipv6', '--subnet', 'fd0c:b:1::/80', 'v6b']);
    assert.match(overlap.err, /Pool overlaps with other one on this address space/);
    web('s6', ['--network', 'v6net', '-p', '18095:80']);
    const s = JSON.parse(d.docker(['inspect', 's6']).out)[0].NetworkSettings.Networks.v6net;
    assert.equal(s.GlobalIPv6Address, 'fd0c:b:1::2');
    assert.equal(s.GlobalIPv6PrefixLen, 64);
    assert.equal(s.IPv6Gateway, 'fd0c:b:1::1');
    assert.match(s.IPAddress, /^\d+\.\d+\.\d+\.\d+$/, 'and IPv4 beside it, as docker gives');
    const probe = d.docker(['run', '--rm', '--network', 'v6net', '--ip6', 'fd0c:b:1::99', IMG, 'sh', '-c',
      'ip -6 addr show eth0; ip -6 route; nslookup -type=AAAA s6; printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 3 fd0c:b:1::2 80 | tail -1']);
    assert.match(probe.out, /inet6 fd0c:b:1::99\/64/);
    assert.match(probe.out, /default via fd0c:b:1::1/);
    assert.match(probe.out, /Address:? fd0c:b:1::2/);
    assert.match(probe.out, /s6\n$/);
    assert.match(d.docker(['exec', 's6', 'cat', '/etc/hosts']).out, /fd0c:b:1::2\t[0-9a-f]{12}\n$/);
    // published: from the host's IPv6 address on the bridge (DNAT), from 127.0.0.1 (DNAT), and from ::1 (the forwarder)
    assert.equal(await fetchText(18095, 'fd0c:b:1::1'), 's6\n');
    assert.equal(await fetchText(18095), 's6\n');
    assert.equal(await fetchText(18095, '::1'), 's6\n', 'IPv6 loopback: the splice forwarder');
    assert.match(d.docker(['run', '--rm', '--network', 'v6net', '--ip6', 'fd0c:b:2::9', IMG, 'true']).err, /fd0c:b:2::9 is outside fd0c:b:1::\/64/);
  });

  test('bad input gets docker\'s status and words, and leaves nothing made', async () => {
    const create = (body: unknown) => d.api('POST', '/networks/create', JSON.stringify(body));
    assert.equal((await create({ Name: 'n1', IPAM: { Config: [{ Subnet: '10.232.0.0/16' }] } })).status, 201);
    const overlap = await create({ Name: 'n2', IPAM: { Config: [{ Subnet: '10.232.5.0/24' }] } });
    assert.equal(overlap.status, 403);
    assert.match(overlap.json.message, /Pool overlaps with other one on this address space/);
    const dup = await create({ Name: 'n1' });
    assert.equal(dup.status, 409);
    assert.match(dup.json.message, /network with name n1 already exists/);
    const gw = await create({ Name: 'n3', IPAM: { Config: [{ Subnet: '10.233.0.0/16', Gateway: '10.234.0.1' }] } });
    assert.equal(gw.status, 400);
    assert.match(gw.json.message, /no matching subnet for gateway 10\.234\.0\.1/);
    assert.equal((await create({ Name: 'n4', IPAM: { Config: [{ Subnet: '10.235.0.0/40' }] } })).status, 400);
    assert.equal((await create({ Name: 'n5', Driver: 'overlay' })).status, 404);
    assert.equal((await d.api('POST', '/networks/nosuch/connect', JSON.stringify({ Container: 'x' }))).status, 404);
    const outside = d.docker(['run', '--rm', '--network', 'n1', '--ip', '10.99.0.5', IMG, 'true']);
    assert.match(outside.err, /10\.99\.0\.5 is outside 10\.232\.0\.0\/16/);
    assert.match(d.docker(['run', '--rm', '--network', 'nosuchnet', IMG, 'true']).err, /network nosuchnet not found/);
    assert.deepEqual(d.docker(['network', 'ls', '--format', '{{.Name}}']).out.trim().split('\n').sort(), ['bridge', 'host', 'n1', 'none']);
    assert.equal(d.docker(['network', 'prune', '-f']).code, 0);
    assert.deepEqual(d.docker(['network', 'ls', '--format', '{{.Name}}']).out.trim().split('\n').sort(), ['bridge', 'host', 'none']);
    assert.deepEqual(d.netLeftovers().filter((l) => l.startsWith('link bv')), [], 'no veth of a refused start stays');
  });

  test('another host: a namespace the test makes, routed through the host, reaches a published port; a container\'s way out is masqueraded to the host\'s address; the host\'s input chain decides with --ports-obey-input', async (t) => {
    // the "other host" is a network namespace joined to this one by a veth pair: 10.251.N.2 there, 10.251.N.1 here
    const n = process.pid % 250, ns = `${PREFIX}-ext`, here = `bxh${process.pid % 100000}`, there = `bxn${process.pid % 100000}`, inTable = `bt${process.pid}in`;
    const sh = (cmd: string) => { const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' }); assert.equal(r.status, 0, `${cmd}: ${r.stderr}`); return r.stdout; };
    const obey = new PrivateBerthd({ args: ['--ports-obey-input'] });
    t.after(async () => {
      d.docker(['rm', '-f', 'pub']);
      await obey.stop();
      spawnSync('nft', ['delete', 'table', 'inet', inTable]);
      spawnSync('ip', ['link', 'del', here]);
      spawnSync('ip', ['netns', 'del', ns]);
    });
    sh(`ip netns add ${ns} && ip link add ${here} type veth peer name ${there} netns ${ns} && ip addr add 10.251.${n}.1/30 dev ${here} && ip link set ${here} up`);
    sh(`ip -n ${ns} addr add 10.251.${n}.2/30 dev ${there} && ip -n ${ns} link set ${there} up && ip -n ${ns} link set lo up && ip -n ${ns} route add default via 10.251.${n}.1`);
    /** GET / of the host's address on `port`, from the other host: the body, or the error */
    const fromThere = (port: number) => {
      const js = `const g = () => require('http').get({ host: '10.251.${n}.1', port: ${port}, timeout: 1500 }, (m) => { let t = ''; m.on('data', (d) => t += d); m.on('end', () => console.log(t.trim())); })
        .on('timeout', function () { console.log('error timeout'); process.exit(0); }).on('error', (e) => (e.code === 'ECONNREFUSED' && ++tries < 30 ? setTimeout(g, 100) : console.log('error', e.code))); let tries = 0; g();`;
      return sh(`ip netns exec ${ns} ${process.execPath} -e "${js.replace(/"/g, '\\"')}"`).trim();
    };
    // a host firewall of the test's own that drops both ports on the way in from the other host
    sh(`nft 'add table inet ${inTable}; add chain inet ${inTable} input { type filter hook input priority 0; policy accept; }; add rule inet ${inTable} input iifname "${here}" tcp dport { 18087, 18089 } drop'`);
    web('pub', ['-p', '18087:80']);
    assert.equal(fromThere(18087), 'pub', 'docker\'s way: the other host reaches the published port; DNAT came before the host\'s input chain, which never saw it');
    // with --ports-obey-input the host's input chain decides, as for any local service; the host itself is served either way
    await obey.start();
    assert.equal(obey.berth(['import', '-c', 'CMD ["sh"]', join(work, 'rootfs.tar'), IMG]).code, 0);
    const o = obey.docker(['run', '-d', '--name', 'guarded', '-p', '18089:80', IMG, 'sh', '-c', 'mkdir -p /w && echo guarded > /w/index.html && exec httpd -f -p 80 -h /w']);
    assert.equal(o.code, 0, o.err);
    assert.equal(await fetchWhenUp(18089), 'guarded\n');
    assert.equal(fromThere(18089), 'error timeout', 'the input chain dropped it');
    sh(`nft flush chain inet ${inTable} input`);
    assert.equal(fromThere(18089), 'guarded', 'and lets it in once its rule is gone (through the forwarder)');
    // out: a server there tells the address it sees; the container's is hidden behind the host's
    const server = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', `require('net').createServer((c) => c.end(c.remoteAddress + '\\n')).listen(18088, '10.251.${n}.2', () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => server.kill());
    spawnSync('sh', ['-c', `for i in $(seq 50); do ip netns exec ${ns} ss -ltn | grep -q 18088 && exit 0; sleep 0.1; done`]);
    const seen = d.docker(['exec', 'pub', 'sh', '-c', `nc -w 3 10.251.${n}.2 18088 </dev/null`]).out.trim();
    assert.equal(seen.replace(/^::ffff:/, ''), `10.251.${n}.1`, 'masqueraded to the host\'s address on the way out');
  });

  test('beside a docker whose FORWARD policy drops: berth lets its own bridges through in DOCKER-USER, and takes its rules out with them', (t) => {
    const rules = () => spawnSync('iptables', ['-w', '5', '-S', 'DOCKER-USER'], { encoding: 'utf8' });
    if (rules().status !== 0) {
      t.diagnostic('no iptables DOCKER-USER chain here (no dockerd): nothing of docker\'s to live beside');
      return;
    }
    const policy = /^-P FORWARD (\w+)$/m.exec(spawnSync('iptables', ['-w', '5', '-S', 'FORWARD'], { encoding: 'utf8' }).stdout)?.[1] ?? 'ACCEPT';
    t.after(() => { d.docker(['rm', '-f', 'fw1', 'fw2']); d.docker(['network', 'rm', 'fwd']); spawnSync('iptables', ['-w', '5', '-P', 'FORWARD', policy]); });
    assert.equal(spawnSync('iptables', ['-w', '5', '-P', 'FORWARD', 'DROP']).status, 0);
    assert.equal(d.docker(['network', 'create', 'fwd']).code, 0);
    const bridge = `br-${JSON.parse(d.docker(['network', 'inspect', 'fwd']).out)[0].Id.slice(0, 12)}`;
    assert.match(rules().stdout, new RegExp(`-A DOCKER-USER -i ${bridge} -m comment --comment ${d.netNames.table} -j ACCEPT`));
    assert.match(rules().stdout, new RegExp(`-A DOCKER-USER -o ${bridge} -m comment --comment ${d.netNames.table} -j ACCEPT`));
    // bridged traffic passes the FORWARD hook where br_netfilter is on: it gets through
    web('fw1', ['--network', 'fwd']);
    assert.equal(d.docker(['run', '-d', '--name', 'fw2', '--network', 'fwd', IMG, 'sleep', '60']).code, 0);
    assert.equal(getFrom('fw2', ipOf('fw1', 'fwd')), 'fw1\n');
    assert.equal(d.docker(['rm', '-f', 'fw1', 'fw2']).code, 0);
    assert.equal(d.docker(['network', 'rm', 'fwd']).code, 0);
    assert.doesNotMatch(rules().stdout, new RegExp(bridge), 'its rules went with its bridge');
  });

  test('50 containers started at once on one network get distinct addresses; removing them frees every lease', async () => {
    assert.equal(d.docker(['network', 'create', 'many']).code, 0);
    const ids = await Promise.all(Array.from({ length: 50 }, (_, i) => new Promise<string>((res) => {
      const c = spawn(dockerBin, ['run', '-d', '--network', 'many', IMG, 'sleep', '60'], { env: d.env() });
      let out = '', err = '';
      c.stdout.on('data', (b) => { out += b; });
      c.stderr.on('data', (b) => { err += b; });
      c.on('close', () => res(out.trim() || `failed ${i}: ${err}`));
    })));
    assert.ok(ids.every((id) => /^[0-9a-f]{64}$/.test(id)), ids.join(' '));
    const addrs = Object.values(JSON.parse(d.docker(['network', 'inspect', 'many']).out)[0].Containers).map((c) => (c as { IPv4Address: string }).IPv4Address);
    assert.equal(new Set(addrs).size, 50);
    assert.equal(d.docker(['rm', '-f', ...ids]).code, 0);
    assert.deepEqual(JSON.parse(d.docker(['network', 'inspect', 'many']).out)[0].Containers, {});
    assert.equal(d.docker(['network', 'rm', 'many']).code, 0);
  });

  test('kill -9 of berthd: published ports keep answering (the forwarder too); the restarted daemon shows and manages them', async () => {
    web('survivor', ['-p', '18084:80']);
    assert.equal(await fetchWhenUp(18084), 'survivor\n');
    await d.crash();
    assert.equal(await fetchText(18084), 'survivor\n');
    if (ipv6Host) assert.equal(await fetchText(18084, '::1'), 'survivor\n');
    await d.start();
    assert.equal(d.docker(['port', 'survivor']).out, `80/tcp -> 0.0.0.0:18084\n${ipv6Host ? '80/tcp -> [::]:18084\n' : ''}`);
    assert.equal(await fetchText(18084), 'survivor\n');
    if (ipv6Host) assert.equal(await fetchText(18084, '::1'), 'survivor\n');
    assert.equal(d.docker(['rm', '-f', 'survivor']).code, 0);
    await sleep(100);
    assert.match(await fetchText(18084), /^error/);
    assert.match(await fetchText(18084, '::1'), /^error/, 'the forwarder ended with the container');
    assert.deepEqual(d.netLeftovers().filter((l) => l.startsWith('link bv')), [], 'no veth stays');
    assert.doesNotMatch(spawnSync('nft', ['list', 'table', 'inet', d.netNames.table], { encoding: 'utf8' }).stdout, /dnat ip6? to/, 'its port is gone from the table');
  });
});
