// berth-runtime as the runtime of other engines, end to end: `docker run
// --rm --runtime R busybox true` against a private dockerd (its own
// containerd) and `podman --runtime R run --rm busybox true`, for R = berth,
// runc and crun, side by side in one run. Medians; bench/results/engine-runtimes.md.
// Run: node dist/bench/engine-runtimes.js   (as root; re-executes itself in a
// private mount namespace so crun accepts this hybrid-cgroup host)
import { spawnSync, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { PrivateDockerd } from '../test/helpers/dockerd.js';
import { podmanConf, removeCgroup, runtimeForConmon, unmountUnder } from '../test/helpers/env.js';
import { makeRootfs } from '../test/helpers/make-bundle.js';
import { inNamespaceWithoutCgroup2Controllers, machineLine, median, versionOf, writeResults } from './lib.js';

const RUNS = Number(process.env.RUNS ?? 20), WARMUP = 3;

inNamespaceWithoutCgroup2Controllers();


/** Wall times of `cmd args`, which must exit 0. */
function times(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): number[] {
  const out: number[] = [];
  for (let i = 0; i < RUNS + WARMUP; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env, encoding: 'utf8' });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
    if (i >= WARMUP) out.push(ms);
  }
  return out;
}

const work = mkdtempSync(join(tmpdir(), 'berth-bench-rt-e2e-'));
chmodSync(work, 0o755);
makeRootfs(join(work, 'rootfs'));
execFileSync('tar', ['-C', join(work, 'rootfs'), '-cf', join(work, 'busybox.tar'), '.']);
const berthForPodman = runtimeForConmon(work);

const runtimes: [string, string][] = [['berth', berthForPodman], ['runc', '/usr/bin/runc'], ['crun', '/usr/bin/crun']];
const d = new PrivateDockerd({ crun: '/usr/bin/crun' });
const podmanDir = join(work, 'podman'), podmanCgroup = `/berth-bench-rt-e2e-podman`;
const podmanEnv = { ...process.env, CONTAINERS_CONF: podmanConf(join(work, 'containers.conf')) };
const podman = (runtime: string) => ['--root', join(podmanDir, 'storage'), '--runroot', join(podmanDir, 'run'), '--tmpdir', join(podmanDir, 'tmp'),
  '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--runtime', runtime, '--runtime-flag', `root=${join(podmanDir, 'rt-' + runtime.split('/').pop())}`];

try {
  await d.start();
  const imp = d.docker(['import', join(work, 'busybox.tar'), 'bench-busybox:e2e']);
  if (imp.code !== 0) throw new Error(imp.err);
  const pimp = spawnSync('podman', [...podman('runc'), 'import', join(work, 'busybox.tar'), 'bench-busybox:e2e'], { env: podmanEnv, encoding: 'utf8' });
  if (pimp.status !== 0) throw new Error(pimp.stderr);
  const rows: string[] = [];
  const result: Record<string, Record<string, number>> = { docker: {}, podman: {} };
  for (const [name, path] of runtimes) {
    result.docker![name] = median(times(d.bin, ['-H', `unix://${d.sock}`, 'run', '--rm', '--network', 'none', '--runtime', name, 'bench-busybox:e2e', 'true'], { ...process.env, DOCKER_CONFIG: join(d.dir, 'client') }));
    result.podman![name] = median(times('podman', [...podman(path), 'run', '--rm', '--network', 'none', '--cgroup-parent', podmanCgroup, 'bench-busybox:e2e', 'true'], podmanEnv));
  }
  for (const [engine, r] of Object.entries(result)) {
    rows.push(`| \`${engine} run --rm --runtime R busybox true\` | ${runtimes.map(([n]) => r[n]!.toFixed(1)).join(' | ')} | ${(r.berth! / r.runc!).toFixed(2)} | ${(r.berth! / r.crun!).toFixed(2)} |`);
  }
  writeResults('engine-runtimes', [
    '# berth-runtime under docker and podman, end to end', '',
    machineLine(),
    `Versions: ${versionOf('dockerd')}; ${versionOf('podman')}; ${versionOf('runc')}; ${versionOf('crun')}. A private dockerd with its own containerd; podman with its own storage. \`--network none\`; ${RUNS} runs after ${WARMUP} warm-up, median ms.`, '',
    '| workload | berth | runc | crun | berth / runc | berth / crun |', '|---|---|---|---|---|---|',
    ...rows, '',
  ]);
} finally {
  spawnSync('podman', [...podman('runc'), 'rm', '-a', '-f', '-t', '0'], { env: podmanEnv, stdio: 'ignore' });
  await d.stop();
  unmountUnder(work);
  removeCgroup(podmanCgroup);
  rmSync(work, { recursive: true, force: true });
}
