// Build benchmark (shared/bench W6), berth side by side with docker's
// classic builder, BuildKit (through Debian's 20.10 docker client, which has
// it built in) and podman build, in one run: FROM debian:local, 3 RUN, a COPY
// of 2000 small files and 50 MiB, ENV/WORKDIR/CMD. Cold (--no-cache), fully
// cached, one source file changed (only the COPY and what follows rebuild),
// and two independent 1-second stages (parallel stages take ~1 s).
// Table in bench/results/build.md.
// Run: node dist/bench/build.js  (as root; uses ../shared/bench/setup-anchors.sh's debian:local)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { podmanConf } from '../test/helpers/env.js';
import { ANCHORS, REPO, dockerBin, median, ensureAnchors, machineLine, startBerthd, table as tableOf, writeResults } from './lib.js';

const COLD = Number(process.env.BUILD_COLD_RUNS ?? 3);
const WARM = Number(process.env.BUILD_WARM_RUNS ?? 5);

interface Engine { name: string; cmd: string; args: string[]; env?: NodeJS.ProcessEnv; rmi: string[] }

function timed(e: Engine, args: string[]): number {
  spawnSync('sync'); // what the build before left dirty is written now, not during the build measured (every engine alike)
  const t0 = process.hrtime.bigint();
  const r = spawnSync(e.cmd, [...e.args, ...args], { encoding: 'utf8', env: e.env ?? process.env, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${e.name}: ${args.join(' ')}: ${(r.stderr || r.stdout).split('\n').slice(-4).join(' ')}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** W6's context (as anchors.sh makes it), and one with two independent 1-second stages. */
function contexts(work: string): { w6: string; stages: string } {
  const w6 = join(work, 'w6');
  mkdirSync(join(w6, 'payload', 'small'), { recursive: true });
  for (let i = 1; i <= 2000; i++) writeFileSync(join(w6, 'payload', 'small', `f${String(i).padStart(4, '0')}.txt`), `file ${String(i).padStart(4, '0')}\n${String(i).padStart(100, '0')}\n`);
  const big = spawnSync('head', ['-c', String(50 * 1024 * 1024), '/dev/urandom'], { maxBuffer: 60 << 20 }).stdout;
  writeFileSync(join(w6, 'payload', 'big.bin'), big);
  writeFileSync(join(w6, 'Dockerfile'), [
    'FROM debian:local', 'LABEL anchors.bench=1', 'RUN echo "step one" > /step1 && mkdir -p /data', 'RUN seq 1 100000 > /x',
    'RUN for i in $(seq 1 200); do echo "$i" > /data/f$i; done && wc -l /x', 'ENV APP_HOME=/app APP_MODE=bench', 'WORKDIR /app',
    'COPY payload/ /app/payload/', 'CMD ["sh", "-c", "ls /app/payload/small | wc -l"]', '',
  ].join('\n'));
  const stages = join(work, 'stages');
  mkdirSync(stages, { recursive: true });
  writeFileSync(join(stages, 'Dockerfile'), [
    'FROM debian:local AS a', 'LABEL anchors.bench=1', 'RUN sleep 1 && echo a > /a', 'FROM debian:local AS b', 'LABEL anchors.bench=1', 'RUN sleep 1 && echo b > /b',
    'FROM debian:local', 'LABEL anchors.bench=1', 'COPY --from=a /a /a', 'COPY --from=b /b /b', '',
  ].join('\n'));
  return { w6, stages };
}

async function main() {
  ensureAnchors();
  const b = startBerthd('build');
  const work = join(b.work, 'ctx');
  const { w6, stages } = contexts(work);
  const classic = { ...process.env, DOCKER_BUILDKIT: '0' };
  const engines: Engine[] = [
    { name: 'berth (berth CLI)', cmd: join(REPO, 'bin', 'berth'), args: ['--data-root', b.dataRoot, '-H', `unix://${b.sock}`, 'build', '--progress=plain'], rmi: [join(REPO, 'bin', 'berth'), '--data-root', b.dataRoot, '-H', `unix://${b.sock}`, 'rmi'] },
    { name: 'berth (docker CLI)', cmd: dockerBin, args: ['build'], env: { ...classic, DOCKER_HOST: `unix://${b.sock}` }, rmi: [dockerBin, 'rmi'] },
    { name: 'docker classic', cmd: dockerBin, args: ['build'], env: { ...classic, DOCKER_HOST: 'unix:///var/run/docker.sock' }, rmi: [dockerBin, 'rmi'] },
    ...(existsSync('/usr/bin/docker') ? [{ name: 'BuildKit (docker 20.10 client)', cmd: '/usr/bin/docker', args: ['build'], env: { ...process.env, DOCKER_BUILDKIT: '1', DOCKER_HOST: 'unix:///var/run/docker.sock' }, rmi: ['/usr/bin/docker', 'rmi'] }] : []),
    { name: 'podman', cmd: 'podman', args: ['--runtime', 'runc', 'build'], env: { ...process.env, CONTAINERS_CONF: podmanConf(join(b.work, 'containers.conf')) }, rmi: ['podman', '--runtime', 'runc', 'rmi'] },
  ];
  const notes: string[] = [];
  const rows: Record<string, Record<string, string>> = {};
  const put = (row: string, e: Engine, f: () => number) => {
    try { (rows[row] ??= {})[e.name] = f().toFixed(2); } catch (err) { (rows[row] ??= {})[e.name] = 'failed'; notes.push(`${e.name}, ${row}: ${(err as Error).message}`); }
  };
  const buildkitWasEmpty = /^0B?$/.test(spawnSync(dockerBin, ['system', 'df', '--format', '{{if eq .Type "Build Cache"}}{{.Size}}{{end}}'], { encoding: 'utf8' }).stdout.trim());
  const rmi = (e: Engine, tag: string) => spawnSync(e.rmi[0]!, [...e.rmi.slice(1), tag], { env: e.env ?? process.env, stdio: 'ignore' });
  try {
    // debian:local as setup-anchors.sh imports it for docker and podman (a FROM of a missing image would pull from Docker Hub)
    const imp = spawnSync(join(REPO, 'bin', 'berth'), ['--data-root', b.dataRoot, '-H', `unix://${b.sock}`, 'import', '-c', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '-c', 'CMD ["bash"]', join(ANCHORS, 'tars', 'debian.tar'), 'debian:local'], { encoding: 'utf8' });
    if (imp.status !== 0) throw new Error(`berth import debian:local: ${imp.stderr}`);
    const changed = join(w6, 'payload', 'small', 'f0001.txt');
    for (const e of engines) {
      const tag = `bench-w6:${e.name.split(' ')[0]}`;
      put('W6 cold, `--no-cache` (s)', e, () => median(Array.from({ length: COLD }, () => { rmi(e, tag); return timed(e, ['--no-cache', '-t', tag, w6]); })));
      try { timed(e, ['-t', tag, w6]); } catch { /* the cached row reports it */ }
      put('W6 fully cached (s)', e, () => median(Array.from({ length: WARM }, () => timed(e, ['-t', tag, w6]))));
      put('W6, one source file changed (s)', e, () => median(Array.from({ length: WARM }, (_, i) => { writeFileSync(changed, `changed ${e.name} ${i}\n`); return timed(e, ['-t', tag, w6]); })));
      put('two independent 1 s stages, `--no-cache` (s)', e, () => median(Array.from({ length: COLD }, () => timed(e, ['--no-cache', '-t', `${tag}-stages`, stages]))));
      rmi(e, tag);
      rmi(e, `${tag}-stages`);
    }
    writeResults('build', [
      '# Build benchmark', '',
      `shared/bench W6: FROM debian:local, 3 RUN, COPY of 2000 small files and 50 MiB, ENV/WORKDIR/CMD. Cold: median of ${COLD} --no-cache builds; cached and one-file-changed: medians of ${WARM}; two stages: median of ${COLD}. Wall time of the client command, each after a sync(1) (the writeback of what the run before left dirty is not in it).`,
      'berth: berthd from this checkout with a fresh data root; docker: the system dockerd (classic builder, and BuildKit through Debian\'s 20.10 client); podman build (buildah).',
      machineLine(), '',
      ...tableOf(rows, engines.map((e) => e.name), engines[0]!.name, 'BuildKit (docker 20.10 client)'),
      '', ...notes.map((n) => `- ${n}`),
    ]);
  } finally {
    // what the builds left in docker and podman: their dangling images (every stage here is labelled), and BuildKit's cache if it was empty before
    for (const e of engines.filter((x) => !x.name.startsWith('berth'))) spawnSync(e.rmi[0]!, [...e.rmi.slice(1, -1), 'image', 'prune', '-f', '--filter', 'label=anchors.bench=1'], { env: e.env ?? process.env, stdio: 'ignore' });
    if (buildkitWasEmpty) spawnSync(dockerBin, ['builder', 'prune', '-af'], { stdio: 'ignore' });
    rmSync(work, { recursive: true, force: true });
    await b.stop();
  }
}

await main();
