// What the engine benchmarks share: the anchors' setup, a private berthd
// for the run (removed after it with all it made), and the results table.
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { hostNames, syncDockerUser } from '../src/network/index.js';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ANCHORS = process.env.ANCHORS_WORK ?? '/tmp/anchors';
export const dockerBin = existsSync('/usr/local/bin/docker') ? '/usr/local/bin/docker' : 'docker';
export const sleepMs = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Runs ../shared/bench/setup-anchors.sh when its busybox image or the system dockerd is missing. */
export function ensureAnchors(): void {
  if (!existsSync(join(ANCHORS, 'tars', 'busybox.tar')) || spawnSync(dockerBin, ['-H', 'unix:///var/run/docker.sock', 'info'], { stdio: 'ignore' }).status !== 0) {
    execFileSync('bash', [join(REPO, '..', 'shared', 'bench', 'setup-anchors.sh')], { stdio: 'inherit' });
  }
}

export interface BenchDaemon { work: string; sock: string; dataRoot: string; execRoot: string; daemon: ChildProcess; stop(): Promise<void> }

/** A berthd of this checkout on a fresh data root; stop() removes its containers, mounts, cgroups and directories. */
export function startBerthd(name: string): BenchDaemon {
  const work = mkdtempSync(join(tmpdir(), `berth-bench-${name}-`));
  chmodSync(work, 0o755);
  const sock = join(work, 'berth.sock'), dataRoot = join(work, 'data'), execRoot = `/run/berth-bench-${name}`, cgroup = `berth-bench-${name}`;
  const daemon = spawn(join(REPO, 'bin', 'berthd'), ['--data-root', dataRoot, '--exec-root', execRoot, '--cgroup-parent', `/${cgroup}`, '-H', `unix://${sock}`], { stdio: 'ignore' });
  for (let i = 0; i < 200 && !existsSync(sock); i++) sleepMs(25);
  const stop = async () => {
    const env = { ...process.env, DOCKER_HOST: `unix://${sock}` };
    const list = spawnSync(dockerBin, ['ps', '-aq'], { encoding: 'utf8', env }).stdout.split('\n').filter(Boolean);
    if (list.length) spawnSync(dockerBin, ['rm', '-f', ...list], { env });
    spawnSync(dockerBin, ['network', 'prune', '-f'], { env, stdio: 'ignore' });
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon.once('exit', r));
    // its default bridge and nft table outlive it, as containers do: a bench's go with it
    const net = hostNames(dataRoot, '/var/lib/berth');
    spawnSync('ip', ['link', 'del', net.defaultBridge], { stdio: 'ignore' });
    spawnSync('nft', ['delete', 'table', 'inet', net.table], { stdio: 'ignore' });
    syncDockerUser(net.table, []);
    spawnSync('sh', ['-c', `grep -o '${work}[^ ]*' /proc/self/mountinfo | xargs -r -n1 umount -l`]);
    rmSync(work, { recursive: true, force: true });
    rmSync(execRoot, { recursive: true, force: true });
    spawnSync('sh', ['-c', `find /sys/fs/cgroup/*/${cgroup} -depth -type d -exec rmdir {} + 2>/dev/null`]);
  };
  return { work, sock, dataRoot, execRoot, daemon, stop };
}

/** The line of a results file that says what ran: this checkout's berthd and the system dockerd, both without a network, and podman. */
export function peersLine(): string {
  const version = spawnSync(dockerBin, ['-H', 'unix:///var/run/docker.sock', 'version', '-f', '{{.Server.Version}}'], { encoding: 'utf8' }).stdout.trim();
  return `berth: berthd from this checkout, a fresh data root, \`--network none\`; docker: the system dockerd (${version}), \`--network none\`; podman with \`--network none\` (the bridge is bench/network.ts's).`;
}

/** The machine and date line of a results file. */
export function machineLine(): string {
  return `Date: ${new Date().toISOString()}. Machine: ${readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? '?'}, kernel ${execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim()}.`;
}

/** A markdown table of workloads × engines, with berth's ratio to docker's in the last column. */
export function table(rows: Record<string, Record<string, string>>, names: string[], berth: string, docker = 'docker'): string[] {
  return [
    `| workload | ${names.join(' | ')} | ${berth} / ${docker} |`, `|---|${names.map(() => '---|').join('')}---|`,
    ...Object.entries(rows).map(([w, v]) => {
      const ratio = v[berth] && v[docker] && !Number.isNaN(Number(v[berth])) && !Number.isNaN(Number(v[docker])) ? (Number(v[berth]) / Number(v[docker])).toFixed(2) : '–';
      return `| ${w} | ${names.map((n) => v[n] ?? '–').join(' | ')} | ${ratio} |`;
    }),
  ];
}

/** Writes bench/results/NAME.md and prints it. */
export function writeResults(name: string, lines: string[]): void {
  mkdirSync(join(REPO, 'bench', 'results'), { recursive: true });
  writeFileSync(join(REPO, 'bench', 'results', `${name}.md`), `${lines.join('\n')}\n`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

export const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };

/** The first line of `cmd --version`, or 'missing'. */
export const versionOf = (cmd: string) => { try { return execFileSync(cmd, ['--version'], { encoding: 'utf8' }).split('\n')[0]!; } catch { return 'missing'; } };

/**
 * crun refuses hybrid hosts whose cgroup2 has controllers: a bench that runs
 * it re-executes itself (once) in a private mount namespace that hides them,
 * as anchors.sh does, and exits with that run's status.
 */
export function inNamespaceWithoutCgroup2Controllers(): void {
  if (process.env.BERTH_BENCH_NS) return;
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c',
    'f=/sys/fs/cgroup/unified/cgroup.controllers; if [ -e $f ]; then e=$(mktemp); mount --bind $e $f; fi; exec "$@"', 'sh',
    process.execPath, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, BERTH_BENCH_NS: '1' } });
  process.exit(r.status ?? 1);
}
