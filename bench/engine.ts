// Engine benchmark: berth (its CLI, and the docker CLI pointed at berthd)
// side by side with docker (and podman when it runs here) in one run:
// run --rm true, run -d per container, memory per running container, exec,
// and 500 MiB of stdout through `run` with default logging. Medians; table
// in bench/results/engine.md.
// Run: node dist/bench/engine.js  (as root; needs ../shared/bench/setup-anchors.sh
// for busybox:local in docker and podman; it is run if docker does not answer)
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { podmanConf } from '../test/helpers/env.js';
import { ANCHORS, REPO, dockerBin, median, ensureAnchors, machineLine, peersLine, sleepMs, startBerthd, table as tableOf, writeResults } from './lib.js';

const RUNS = Number(process.env.RUNS ?? 15);
const IMG = 'busybox:local';

interface Engine { name: string; cmd: string; args: string[]; env?: NodeJS.ProcessEnv; runExtra: string[] }

function run(e: Engine, args: string[], opts: { out?: 'ignore' | 'pipe' } = {}): { ms: number; out: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(e.cmd, [...e.args, ...args], { stdio: ['ignore', opts.out ?? 'pipe', 'pipe'], env: e.env ?? process.env, maxBuffer: 1 << 26, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${e.name}: ${args.join(' ')}: ${r.stderr}`);
  return { ms, out: r.stdout ?? '' };
}

function times(e: Engine, args: string[], n = RUNS, warm = 3): number[] {
  for (let i = 0; i < warm; i++) run(e, args);
  return Array.from({ length: n }, () => run(e, args).ms);
}

const memAvailable = () => Number(/MemAvailable:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) * 1024;
/** A /proc field in kB, as bytes (0 when the process is gone). */
const procKb = (pid: number, file: string, field: string) => {
  try { return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/${file}`, 'utf8'))![1]) * 1024; } catch { return 0; }
};

/**
 * Streams 500 MiB of 101-byte lines through `run` (attached, default logging); MiB/s.
 * The lines come from `cat` of a 1 MiB file, 500 times: busybox `yes | head`
 * alone makes only about 160 MiB/s here and would be what is measured.
 */
function throughput(e: Engine): Promise<number> {
  const args = [...e.args, 'run', '--rm', ...e.runExtra, IMG, 'sh', '-c', 'yes 0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000 | head -c 1048576 > /tmp/f; for i in $(seq 500); do cat /tmp/f; done'];
  const t0 = process.hrtime.bigint();
  return new Promise<number>((res, rej) => {
    const p = spawn(e.cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env: e.env ?? process.env });
    let n = 0;
    p.stdout.on('data', (d: Buffer) => { n += d.length; });
    p.on('close', (code) => {
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code !== 0 || n !== 524288000) rej(new Error(`${e.name}: exit ${code}, ${n} bytes`)); else res(500 / s);
    });
  });
}

async function main() {
  ensureAnchors();
  const b = startBerthd('engine');
  const { sock, dataRoot, execRoot, work } = b;
  const berthCli: Engine = { name: 'berth (berth CLI)', cmd: join(REPO, 'bin', 'berth'), args: ['--data-root', dataRoot, '-H', `unix://${sock}`], runExtra: ['--network', 'none'] };
  const dockerOnBerth: Engine = { name: 'berth (docker CLI)', cmd: dockerBin, args: [], env: { ...process.env, DOCKER_HOST: `unix://${sock}` }, runExtra: ['--network', 'none'] };
  const docker: Engine = { name: 'docker', cmd: dockerBin, args: [], env: { ...process.env, DOCKER_HOST: 'unix:///var/run/docker.sock' }, runExtra: ['--network', 'none'] };
  // runc: crun refuses this VM's hybrid cgroups
  const podman: Engine = { name: 'podman', cmd: 'podman', args: ['--runtime', 'runc'], env: { ...process.env, CONTAINERS_CONF: podmanConf(join(work, 'containers.conf')) }, runExtra: ['--network', 'none'] };
  const rows: string[] = [];
  const note = (s: string) => { process.stderr.write(`${s}\n`); rows.push(s); };
  try {
    run(berthCli, ['import', '-c', 'CMD ["sh"]', join(ANCHORS, 'tars', 'busybox.tar'), IMG]);
    const engines = [berthCli, dockerOnBerth, docker];
    try { run(podman, ['run', '--rm', '--network', 'none', IMG, 'true']); engines.push(podman); } catch (e) { note(`podman left out: ${(e as Error).message.split('\n')[0]}`); }
    const table: Record<string, Record<string, string>> = {};
    const put = (w: string, e: string, v: string) => { (table[w] ??= {})[e] = v; };

    // 1. run --rm true
    for (const e of engines) put('`run --rm busybox true` (ms)', e.name, median(times(e, ['run', '--rm', ...e.runExtra, IMG, 'true'])).toFixed(1));

    // 2. 50 x run -d sleep, per container; 3. memory per running container; 4. exec
    for (const e of engines) {
      const before = memAvailable();
      const t0 = process.hrtime.bigint();
      const ids: string[] = [];
      for (let i = 0; i < 50; i++) ids.push(run(e, ['run', '-d', ...e.runExtra, IMG, 'sleep', '600']).out.trim());
      put('50 × `run -d sleep`, per container (ms)', e.name, (Number(process.hrtime.bigint() - t0) / 1e6 / 50).toFixed(1));
      sleepMs(2000);
      put('host memory per running container (MiB, MemAvailable)', e.name, ((before - memAvailable()) / 50 / 1048576).toFixed(2));
      const supervisor = e === berthCli ? `berth-shim --dir ${execRoot}` : e === docker ? 'containerd-shim-runc-v2' : e === podman ? 'conmon' : '';
      if (supervisor) {
        const pids = spawnSync('pgrep', ['-f', supervisor], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
        const mib = (file: string, field: string) => (pids.reduce((a, p) => a + procKb(p, file, field), 0) / pids.length / 1048576).toFixed(2);
        // RSS counts shared library pages in full in every process; PSS divides them among their users
        if (pids.length) put('supervisor RSS, mean per supervisor (MiB, VmRSS)', e.name, mib('status', 'VmRSS'));
        if (pids.length) put('supervisor PSS, mean per supervisor (MiB)', e.name, mib('smaps_rollup', 'Pss'));
      }
      put('`exec CONTAINER true` (ms)', e.name, median(times(e, ['exec', ids[0]!, 'true'])).toFixed(1));
      run(e, ['rm', '-f', ...ids]);
    }

    // 5. stdout throughput with default logging
    // three runs each, interleaved: one run alone moved by ±20% between runs here
    const rates = new Map<Engine, number[]>(engines.map((e) => [e, []]));
    for (let i = 0; i < 3; i++) for (const e of engines) rates.get(e)!.push(await throughput(e));
    for (const e of engines) put('500 MiB stdout through `run` (MiB/s)', e.name, median(rates.get(e)!).toFixed(0));

    const names = engines.map((e) => e.name);
    writeResults('engine', [
      '# Engine benchmark', '',
      `Medians of ${RUNS} runs after 3 warm-ups (run, exec); 50 containers for run -d and memory; the median of three 500 MiB runs per engine.`,
      peersLine(),
      machineLine(), '',
      ...tableOf(table, names, berthCli.name),
      '', ...rows.map((r) => `- ${r}`),
    ]);
  } finally {
    await b.stop();
  }
}

await main();
