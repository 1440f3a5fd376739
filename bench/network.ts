// Network benchmark: berth (its CLI, and the docker CLI pointed at berthd)
// side by side with docker (and podman when its bridge works here) in one
// run: run --rm on the default bridge and on none (alternating, for what the
// network costs), 50 × run -d on the bridge, TCP throughput to a published
// port from the host's 127.0.0.1 and to the container's own address, between
// two containers on a user network, and short connections per second to a
// published port. Servers run in the containers' network namespaces
// (nsenter), so the path measured is the engine's: veth, bridge, NAT.
// Table in bench/results/network.md.
// Run: node dist/bench/network.js  (as root; iperf3 from Debian)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { podmanConf } from '../test/helpers/env.js';
import { ANCHORS, REPO, dockerBin, median, ensureAnchors, machineLine, sleepMs, startBerthd, table as tableOf, writeResults } from './lib.js';

const RUNS = Number(process.env.RUNS ?? 15);
const IMG = 'busybox:local';

interface Engine { name: string; cmd: string; args: string[]; env?: NodeJS.ProcessEnv }

function run(e: Engine, args: string[]): { ms: number; out: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(e.cmd, [...e.args, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: e.env ?? process.env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${e.name}: ${args.join(' ')}: ${r.stderr}`);
  return { ms, out: r.stdout };
}

const pidOf = (e: Engine, id: string) => Number(run(e, ['inspect', '-f', '{{.State.Pid}}', id]).out.trim());


/** A server in a container's network namespace; killed by the caller. */
const serveIn = (pid: number, cmd: string[]): ChildProcess => spawn('nsenter', ['-t', String(pid), '-n', ...cmd], { stdio: 'ignore' });

/** iperf3 from `from` (a pid's namespace, or the host) to host:port for 3 s: Gbit/s received. */
function iperfOnce(host: string, port: number, from?: number): number {
  const args = ['-c', host, '-p', String(port), '-t', '3', '-J'];
  const r = from ? spawnSync('nsenter', ['-t', String(from), '-n', 'iperf3', ...args], { encoding: 'utf8' }) : spawnSync('iperf3', args, { encoding: 'utf8' });
  const j = JSON.parse(r.stdout) as { end?: { sum_received?: { bits_per_second: number } }; error?: string };
  if (!j.end?.sum_received) throw new Error(`iperf3 to ${host}:${port}: ${j.error ?? r.stderr}`);
  return j.end.sum_received.bits_per_second / 1e9;
}

/** Short TCP connections to 127.0.0.1:port, one after another, for 3 s; per second. */
async function connectionRate(port: number): Promise<number> {
  const end = Date.now() + 3000;
  let n = 0;
  while (Date.now() < end) {
    await new Promise<void>((res, rej) => { const s = connect(port, '127.0.0.1'); s.on('data', () => {}); s.on('end', () => { s.destroy(); res(); }); s.on('error', rej); });
    n++;
  }
  return n / 3;
}

/** Sequential lookups of `name` from inside container `from` to the resolver its resolv.conf names (berth and docker: 127.0.0.11 in the container's own namespace; podman: aardvark-dns). */
function dnsMedian(e: Engine, from: string, name: string, count: number): number {
  const resolver = /^nameserver\s+(\S+)/m.exec(run(e, ['exec', from, 'cat', '/etc/resolv.conf']).out)?.[1];
  if (!resolver) throw new Error('no nameserver in its resolv.conf');
  // an engine without a resolver of its own names the host's: the bench asks no resolver outside this machine
  if (readFileSync('/etc/resolv.conf', 'utf8').split('\n').some((l) => l.trim() === `nameserver ${resolver}`)) throw new Error(`its resolv.conf names the host's resolver (${resolver}): no embedded DNS to measure, and none asked`);
  const r = spawnSync('nsenter', ['-t', String(pidOf(e, from)), '-n', process.execPath, join(REPO, 'dist', 'bench', 'dns-client.js'), resolver, name, String(count)], { encoding: 'utf8' });
  const j = JSON.parse(r.stdout || '{}') as { medianMs?: number; answered?: number };
  if (!j.medianMs || j.answered !== count) throw new Error(`${resolver}: ${j.answered ?? 0} of ${count} answered ${r.stderr}`);
  return j.medianMs;
}

const CLOSER = ['node', '-e', 'require("net").createServer((s) => s.end("x")).listen(80)'];

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const DNS_ROUNDS = Number(process.env.DNS_ROUNDS ?? 15);
const ROW = {
  bridge: '`run --rm busybox true`, default bridge (ms)',
  none: '`run --rm --network none busybox true` (ms)',
  cost: 'what the bridge adds to `run --rm`: median of paired differences (ms)',
  loopback: 'TCP, host 127.0.0.1 → published port (Gbit/s, iperf3)',
  loopback6: 'TCP, host [::1] → published port (Gbit/s; berth: its splice forwarder, docker: docker-proxy)',
  direct: 'TCP, host → container address (Gbit/s)',
  rate: 'short connections to a published port (per s)',
  c2c: 'TCP, container → container on a user network (Gbit/s)',
  dns: 'DNS: a container name from inside a container, median of the rounds\' medians (ms)',
};

/** One engine's containers for the throughput rows: an iperf3 server behind a published port, a closer behind another, two containers on a user network. */
interface Rig { e: Engine; insp: Engine; port: number; ip: string; aIp: string; c: string; cPid: number; ids: string[]; servers: ChildProcess[] }

function rig(e: Engine, insp: Engine, port: number): Rig {
  const ipOf = (id: string) => run(insp, ['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', id]).out.trim();
  const bench = ['run', '-d', '--label', 'berth-bench=network'];
  const srv = run(e, [...bench, '-p', `${port}:5201`, IMG, 'sleep', '600']).out.trim();
  const web = run(e, [...bench, '-p', `127.0.0.1:${port + 10}:80`, IMG, 'sleep', '600']).out.trim();
  run(e, ['network', 'create', 'benchnet']);
  const a = run(e, [...bench, '--name', `benchsrv${port}`, '--network', 'benchnet', IMG, 'sleep', '600']).out.trim();
  const c = run(e, [...bench, '--network', 'benchnet', IMG, 'sleep', '600']).out.trim();
  const servers = [serveIn(pidOf(e, srv), ['iperf3', '-s', '-p', '5201']), serveIn(pidOf(e, web), CLOSER), serveIn(pidOf(e, a), ['iperf3', '-s', '-p', '5201'])];
  return { e, insp, port, ip: ipOf(srv), aIp: ipOf(a), c, cPid: pidOf(e, c), ids: [srv, web, a, c], servers };
}

function unrig(r: Rig): void {
  for (const s of r.servers) s.kill();
  run(r.e, ['rm', '-f', ...r.ids]);
  run(r.e, ['network', 'rm', 'benchnet']);
}

async function main() {
  ensureAnchors();
  const b = startBerthd('network');
  const berthCli: Engine = { name: 'berth (berth CLI)', cmd: join(REPO, 'bin', 'berth'), args: ['--data-root', b.dataRoot, '-H', `unix://${b.sock}`] };
  const dockerOnBerth: Engine = { name: 'berth (docker CLI)', cmd: dockerBin, args: [], env: { ...process.env, DOCKER_HOST: `unix://${b.sock}` } };
  const docker: Engine = { name: 'docker', cmd: dockerBin, args: [], env: { ...process.env, DOCKER_HOST: 'unix:///var/run/docker.sock' } };
  const podman: Engine = { name: 'podman', cmd: 'podman', args: ['--runtime', 'runc'], env: { ...process.env, CONTAINERS_CONF: podmanConf(join(b.work, 'containers.conf')) } };
  const notes: string[] = [];
  const note = (s: string) => { process.stderr.write(`${s}\n`); notes.push(s); };
  const rows: Record<string, Record<string, string>> = {};
  const put = (w: string, e: string, v: string) => { (rows[w] ??= {})[e] = v; };
  try {
    run(berthCli, ['import', '-c', 'CMD ["sh"]', join(ANCHORS, 'tars', 'busybox.tar'), IMG]);
    const engines = [berthCli, dockerOnBerth, docker];
    try { run(podman, ['run', '--rm', IMG, 'true']); engines.push(podman); } catch (e) { note(`podman left out: its bridge did not run here: ${(e as Error).message.split('\n').slice(-2).join(' ')}`); }

    // none and the bridge alternate, run by run, so that both see the same daemon and the same machine; the cost is the median of paired differences
    for (const e of engines) {
      const bridge = ['run', '--rm', IMG, 'true'], none = ['run', '--rm', '--network', 'none', IMG, 'true'];
      for (let i = 0; i < 3; i++) { run(e, bridge); run(e, none); }
      const pairs = Array.from({ length: RUNS }, (_, i) => (i % 2 ? [run(e, none).ms, run(e, bridge).ms] : [run(e, bridge).ms, run(e, none).ms].reverse()) as [number, number]);
      put(ROW.bridge, e.name, median(pairs.map((p) => p[1])).toFixed(1));
      put(ROW.none, e.name, median(pairs.map((p) => p[0])).toFixed(1));
      put(ROW.cost, e.name, median(pairs.map((p) => p[1] - p[0])).toFixed(1));
    }
    // the floor under every docker CLI row: the client's own start, with no daemon asked
    put('the docker CLI alone, `docker --version` (ms)', dockerOnBerth.name, median(Array.from({ length: RUNS }, () => run(dockerOnBerth, ['--version']).ms)).toFixed(1));
    for (const e of engines) {
      const t0 = process.hrtime.bigint();
      const ids = Array.from({ length: 50 }, () => run(e, ['run', '-d', IMG, 'sleep', '600']).out.trim());
      put('50 × `run -d sleep` on the bridge, per container (ms)', e.name, (Number(process.hrtime.bigint() - t0) / 1e6 / 50).toFixed(1));
      run(e, ['rm', '-f', ...ids]);
    }

    // throughput and connection rate: the berth CLI's daemon and docker's (and podman), each set up once, then measured in turns
    // what a failed run of this bench left in docker (berth's daemon is fresh)
    for (const e of engines.filter((x) => x === docker || x === podman)) {
      const left = spawnSync(e.cmd, [...e.args, 'ps', '-aq', '--filter', 'label=berth-bench=network'], { encoding: 'utf8', env: e.env }).stdout.split('\n').filter(Boolean);
      if (left.length) run(e, ['rm', '-f', ...left]);
      spawnSync(e.cmd, [...e.args, 'network', 'rm', 'benchnet'], { env: e.env, stdio: 'ignore' });
    }
    const measuredEngines: [Engine, number][] = [[berthCli, 15201], [docker, 15202], ...(engines.includes(podman) ? [[podman, 15203] as [Engine, number]] : [])];
    const rigs = measuredEngines.map(([e, port]) => rig(e, e === berthCli ? dockerOnBerth : e, port));
    try {
      sleepMs(700);
      const samples = new Map<string, number[]>();
      const failed = new Set<string>();
      const sample = async (r: Rig, row: string, f: () => number | Promise<number>) => {
        const key = `${r.e.name}\0${row}`;
        if (failed.has(key)) return;
        try { const v = await f(); (samples.get(key) ?? samples.set(key, []).get(key)!).push(v); } catch (err) { failed.add(key); put(row, r.e.name, 'failed'); note(`${r.e.name}, ${row}: ${(err as Error).message.split('\n')[0]}`); }
      };
      for (let round = 0; round < ROUNDS; round++) {
        for (const r of rigs) {
          await sample(r, ROW.loopback, () => iperfOnce('127.0.0.1', r.port));
          await sample(r, ROW.loopback6, () => iperfOnce('::1', r.port));
          await sample(r, ROW.direct, () => iperfOnce(r.ip, 5201));
          await sample(r, ROW.c2c, () => iperfOnce(r.aIp, 5201, r.cPid));
        }
      }
      for (let round = 0; round < 3; round++) for (const r of rigs) await sample(r, ROW.rate, () => connectionRate(r.port + 10));
      for (const [key, xs] of samples) { const [name, row] = key.split('\0') as [string, string]; put(row, name, median(xs).toFixed(row === ROW.rate ? 0 : 1)); }
      // DNS: 100 queries each to warm the resolvers up (berthd's is JIT-compiled as it goes), then rounds of 100 in turns
      for (const r of rigs) try { dnsMedian(r.e, r.c, `benchsrv${r.port}`, 100); } catch { /* the round below reports it */ }
      // a round is a fraction of a second and machine noise is of the same size: more rounds than the throughput rows, the order of the engines turning each round
      for (let round = 0; round < DNS_ROUNDS; round++) for (const r of round % 2 ? [...rigs].reverse() : rigs) await sample(r, ROW.dns, () => dnsMedian(r.e, r.c, `benchsrv${r.port}`, 200));
      for (const r of rigs) if (!failed.has(`${r.e.name}\0${ROW.dns}`)) put(ROW.dns, r.e.name, median(samples.get(`${r.e.name}\0${ROW.dns}`)!).toFixed(2));
    } finally {
      for (const r of rigs) unrig(r);
    }
    put('TCP, host loopback alone (Gbit/s)', 'host', (() => { const s = spawn('iperf3', ['-s', '-p', '15299'], { stdio: 'ignore' }); sleepMs(500); try { return median([0, 1, 2].map(() => iperfOnce('127.0.0.1', 15299))).toFixed(1); } finally { s.kill(); } })());

    const names = [...engines.map((e) => e.name), 'host'];
    writeResults('network', [
      '# Network benchmark', '',
      `run --rm: ${RUNS} runs each on the bridge and on none after 3 warm-ups, the two alternating (medians, and the median of the ${RUNS} paired differences); 50 containers for run -d. Throughput: each engine's containers set up once, then ${ROUNDS} rounds in which the engines take turns, a 3 s iperf3 run per row each (medians); the connection rate likewise, 3 rounds of 3 s of sequential connections.`,
      'berth: berthd from this checkout, a fresh data root, its default bridge (kernel DNAT for published ports; its splice forwarder for [::1]); docker: the system dockerd with its default bridge and docker-proxy; podman: its default network (netavark); its networks have no DNS here (dns_enabled is false: Debian\'s aardvark-dns is not installed), so its DNS row fails.',
      `DNS: 100 sequential A queries each to warm up, then ${DNS_ROUNDS} rounds (the engines' order turning each round), in each 200 sequential A queries for a container\'s name, from inside another container on the same user network, to the resolver its resolv.conf names (berth and docker: 127.0.0.11 in the container's own namespace; podman: aardvark-dns).`,
      'Servers (iperf3; a node server that answers "x" and closes for the connection rate) run in the container\'s network namespace by nsenter; clients on the host or in the other container\'s namespace.',
      machineLine(), '',
      ...tableOf(rows, names, berthCli.name),
      '', ...notes.map((r) => `- ${r}`),
    ]);
  } finally {
    await b.stop();
  }
}

await main();
