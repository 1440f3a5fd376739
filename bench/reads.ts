// Reads under load, berth side by side with docker (and podman when it runs
// here) in one run: `logs --tail 1` of a container with a 100 MiB log (the
// daemon's answer through its API, the daemon's RSS before and after, and
// each CLI end to end), and the container list (GET /containers/json, or
// `podman ps`) while 50 `run -d` start at once: its p50 and p99.
// Table in bench/results/reads.md.
// Run: node dist/bench/reads.js  (as root; uses ../shared/bench/setup-anchors.sh's busybox:local)
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { podmanConf } from '../test/helpers/env.js';
import { ANCHORS, REPO, dockerBin, ensureAnchors, machineLine, peersLine, startBerthd, table as tableOf, writeResults } from './lib.js';

const RUNS = Number(process.env.RUNS ?? 15);
const BURST = Number(process.env.BURST ?? 50);
const IMG = 'busybox:local';
const quantile = (xs: number[], q: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!; };
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

interface Engine { name: string; cmd: string; args: string[]; env?: NodeJS.ProcessEnv; sock?: string; pid?: () => number; runExtra: string[] }

function cli(e: Engine, args: string[]): { ms: number; out: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(e.cmd, [...e.args, ...args], { encoding: 'utf8', env: e.env ?? process.env, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${e.name}: ${args.join(' ')}: ${r.stderr}`);
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, out: r.stdout };
}

/** One API call on the engine's socket: milliseconds to the end of the answer, and its bytes. */
function api(sock: string, path: string): Promise<{ ms: number; bytes: number }> {
  const t0 = process.hrtime.bigint();
  return new Promise((res, rej) => {
    const r = request({ socketPath: sock, path }, (m) => {
      let bytes = 0;
      m.on('data', (d: Buffer) => { bytes += d.length; });
      m.on('end', () => res({ ms: Number(process.hrtime.bigint() - t0) / 1e6, bytes }));
    });
    r.on('error', rej);
    r.end();
  });
}

/** A stopped container whose json log holds 100 MiB of 101-byte lines (and a last one), in one file. */
function bigLog(e: Engine): string {
  const id = cli(e, ['create', ...e.runExtra, '--log-opt', 'max-size=1g', IMG, 'sh', '-c', 'yes 0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000 | head -n 1038190; echo last line']).out.trim();
  cli(e, ['start', id]);
  cli(e, ['wait', id]);
  return id;
}

/** The container list's latency while BURST `run -d` start at once. */
async function listDuringBurst(e: Engine): Promise<number[]> {
  let done = 0;
  const ids: string[] = [];
  for (let i = 0; i < BURST; i++) {
    const p = spawn(e.cmd, [...e.args, 'run', '-d', ...e.runExtra, IMG, 'sleep', '600'], { env: e.env ?? process.env, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => { out += d; });
    p.on('close', () => { done++; ids.push(out.trim()); });
  }
  const ms: number[] = [];
  while (done < BURST) ms.push(e.sock ? (await api(e.sock, '/containers/json')).ms : await new Promise<number>((res) => {
    const t0 = process.hrtime.bigint();
    spawn(e.cmd, [...e.args, 'ps', '-q'], { env: e.env ?? process.env, stdio: 'ignore' }).on('close', () => res(Number(process.hrtime.bigint() - t0) / 1e6));
  }));
  cli(e, ['rm', '-f', ...ids.filter(Boolean)]);
  return ms;
}

async function main() {
  ensureAnchors();
  const b = startBerthd('reads');
  const { sock, dataRoot, daemon, work } = b;
  const dockerdPid = () => Number(spawnSync('pgrep', ['-xo', 'dockerd'], { encoding: 'utf8' }).stdout.trim());
  const berth: Engine = { name: 'berth', cmd: join(REPO, 'bin', 'berth'), args: ['--data-root', dataRoot, '-H', `unix://${sock}`], sock, pid: () => daemon.pid!, runExtra: [] };
  const dockerOnBerth: Engine = { name: 'docker CLI → berthd', cmd: dockerBin, args: [], env: { ...process.env, DOCKER_HOST: `unix://${sock}` }, runExtra: [] };
  const docker: Engine = { name: 'docker', cmd: dockerBin, args: [], env: { ...process.env, DOCKER_HOST: 'unix:///var/run/docker.sock' }, sock: '/var/run/docker.sock', pid: dockerdPid, runExtra: ['--network', 'none'] };
  const podman: Engine = { name: 'podman', cmd: 'podman', args: ['--runtime', 'runc'], env: { ...process.env, CONTAINERS_CONF: podmanConf(join(work, 'containers.conf')) }, runExtra: ['--network', 'none'] };
  const table: Record<string, Record<string, string>> = {};
  const put = (w: string, e: string, v: string) => { (table[w] ??= {})[e] = v; };
  const notes: string[] = [];
  try {
    cli(berth, ['import', '-c', 'CMD ["sh"]', join(ANCHORS, 'tars', 'busybox.tar'), IMG]);
    const engines = [berth, docker];
    try { cli(podman, ['run', '--rm', '--network', 'none', IMG, 'true']); engines.push(podman); } catch (e) { notes.push(`podman left out: ${(e as Error).message.split('\n')[0]}`); }

    // 1. logs --tail 1 of a 100 MiB log
    for (const e of engines) {
      const id = bigLog(e);
      const clis = e === berth ? [berth, dockerOnBerth] : [e];
      for (const c of clis) {
        const t = Array.from({ length: RUNS + 3 }, () => cli(c, ['logs', '--tail', '1', id]));
        if (t[0]!.out !== 'last line\n') throw new Error(`${c.name}: logs --tail 1 gave ${JSON.stringify(t[0]!.out.slice(0, 80))}`);
        put('`logs --tail 1`, 100 MiB log, CLI end to end (ms, median)', c.name, quantile(t.slice(3).map((x) => x.ms), 0.5).toFixed(1));
      }
      if (e.sock && e.pid) {
        const before = rssMiB(e.pid());
        const t = [];
        for (let i = 0; i < RUNS + 3; i++) t.push((await api(e.sock, `/containers/${id}/logs?stdout=1&tail=1`)).ms);
        put('`GET /containers/ID/logs?tail=1`, 100 MiB log (ms, median)', e.name, quantile(t.slice(3), 0.5).toFixed(2));
        put('daemon RSS before → after the tails (MiB)', e.name, `${before.toFixed(0)} → ${rssMiB(e.pid()).toFixed(0)}`);
      }
      cli(e, ['rm', '-f', id]);
    }

    // 2. the container list during a burst of starts
    for (const e of [...engines, dockerOnBerth]) {
      if (e === dockerOnBerth) continue; // the same daemon as berth's row: the burst is made by the docker CLI there
      const ms = await listDuringBurst(e === berth ? { ...dockerOnBerth, sock } : e);
      const how = e.sock ? 'GET /containers/json' : '`podman ps -q`';
      put(`container list during ${BURST} parallel \`run -d\` (ms, p50)`, e.name, quantile(ms, 0.5).toFixed(1));
      put(`container list during ${BURST} parallel \`run -d\` (ms, p99)`, e.name, quantile(ms, 0.99).toFixed(1));
      notes.push(`${e.name}: ${ms.length} lists (${how}) during the burst`);
    }

    const names = [berth.name, dockerOnBerth.name, ...engines.slice(1).map((e) => e.name)];
    writeResults('reads', [
      '# Reads under load', '',
      `Medians of ${RUNS} runs after 3 warm-ups. The 100 MiB log is one json file (\`--log-opt max-size=1g\` for every engine). The burst: ${BURST} \`run -d busybox sleep\` started at once by the docker CLI (podman: its CLI), the list asked for back to back until all have started; berth's burst goes through the docker CLI.`,
      peersLine(),
      machineLine(), '',
      ...tableOf(table, names, berth.name),
      '', ...notes.map((r) => `- ${r}`),
    ]);
  } finally {
    await b.stop();
  }
}

await main();
