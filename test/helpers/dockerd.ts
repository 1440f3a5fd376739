// A private dockerd (Debian's docker.io) for tests: its own containerd, data,
// exec root, socket and cgroup parent, berth registered as a runtime; stop()
// leaves no daemon, mount or cgroup behind. The containerd is started here,
// not by dockerd: dockerd uses /run/containerd/containerd.sock whenever that
// file exists, and a stale one (left by a containerd that died) hangs it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { BERTH_RUNTIME, PREFIX, removeCgroup, unmountUnder } from './env.js';

export type Run = { out: string; err: string; code: number | null };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
async function terminate(p: ChildProcess | undefined, graceMs: number): Promise<void> {
  if (!p || p.exitCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await Promise.race([exited, sleep(graceMs)]);
  if (p.exitCode === null) p.kill('SIGKILL');
}

export class PrivateDockerd {
  readonly dir = mkdtempSync(join(tmpdir(), `${PREFIX}-dockerd-`));
  readonly sock = join(this.dir, 'docker.sock');
  readonly cgroupParent = `/${PREFIX}-docker-${Math.random().toString(36).slice(2, 8)}`;
  readonly bin = existsSync('/usr/local/bin/docker') ? '/usr/local/bin/docker' : 'docker';
  /**
   * A bridge of its own: with --bridge=none dockerd deletes the host's
   * docker0 (the system dockerd's), so it gets this one, on an address of
   * the benchmarking range (198.18.0.0/15) that nothing here routes.
   */
  readonly bridge = `bd${process.pid % 1000000}`;
  private daemon: ChildProcess | undefined;
  /** `runtimes`: more runtimes to register besides berth (name → path), as `--add-runtime`. */
  constructor(private readonly runtimes: Record<string, string> = {}) {}
  private containerd: ChildProcess | undefined;

  docker(args: string[], input = ''): Run {
    const r = spawnSync(this.bin, ['-H', `unix://${this.sock}`, ...args], { encoding: 'utf8', input, env: { ...process.env, DOCKER_CONFIG: join(this.dir, 'client') }, timeout: 120000, maxBuffer: 1 << 28 });
    return { out: r.stdout, err: r.stderr, code: r.status };
  }

  async start(): Promise<void> {
    chmodSync(this.dir, 0o755);
    const ctrSock = join(this.dir, 'containerd.sock');
    writeFileSync(join(this.dir, 'containerd.toml'), 'version = 2\n');
    const clog = openSync(join(this.dir, 'containerd.log'), 'a');
    this.containerd = spawn('containerd', [
      '--config', join(this.dir, 'containerd.toml'), '--address', ctrSock,
      '--root', join(this.dir, 'containerd-root'), '--state', join(this.dir, 'containerd-state'),
    ], { stdio: ['ignore', clog, clog] });
    closeSync(clog);
    for (let i = 0; i < 100 && !existsSync(ctrSock); i++) await sleep(100);
    spawnSync('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    spawnSync('ip', ['addr', 'add', `198.18.${process.pid % 250}.1/24`, 'dev', this.bridge]);
    const log = openSync(join(this.dir, 'dockerd.log'), 'a');
    this.daemon = spawn('dockerd', [
      '--containerd', ctrSock,
      '--data-root', join(this.dir, 'data'), '--exec-root', join(this.dir, 'exec'), '--pidfile', join(this.dir, 'dockerd.pid'),
      '-H', `unix://${this.sock}`, `--bridge=${this.bridge}`, '--iptables=false', '--ip6tables=false', '--ip-masq=false',
      '--cgroup-parent', this.cgroupParent, '--add-runtime', `berth=${BERTH_RUNTIME}`,
      ...Object.entries(this.runtimes).flatMap(([name, path]) => ['--add-runtime', `${name}=${path}`]),
    ], { stdio: ['ignore', log, log] });
    closeSync(log);
    for (let i = 0; i < 300 && this.docker(['version']).code !== 0; i++) await sleep(100);
    if (this.docker(['version']).code !== 0) {
      const tail = (f: string) => existsSync(f) ? readFileSync(f, 'utf8').split('\n').slice(-15).join('\n') : '(no log)';
      throw new Error(`dockerd did not answer in 30 s\n--- dockerd.log\n${tail(join(this.dir, 'dockerd.log'))}\n--- containerd.log\n${tail(join(this.dir, 'containerd.log'))}`);
    }
  }

  async stop(): Promise<void> {
    for (const id of this.docker(['ps', '-aq']).out.split('\n').filter(Boolean)) this.docker(['rm', '-f', id]);
    await terminate(this.daemon, 20000);
    await terminate(this.containerd, 10000);
    unmountUnder(this.dir);
    removeCgroup(this.cgroupParent);
    spawnSync('ip', ['link', 'del', this.bridge]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
