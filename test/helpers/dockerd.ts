// A private dockerd (Debian's docker.io) for tests: its own data, exec root,
// socket and cgroup parent, berth registered as a runtime; stop() leaves
// no daemon, mount or cgroup behind.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { BERTH_RUNTIME, PREFIX, removeCgroup, unmountUnder } from './env.js';

export type Run = { out: string; err: string; code: number | null };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class PrivateDockerd {
  readonly dir = mkdtempSync(join(tmpdir(), `${PREFIX}-dockerd-`));
  readonly sock = join(this.dir, 'docker.sock');
  readonly cgroupParent = `/${PREFIX}-docker-${Math.random().toString(36).slice(2, 8)}`;
  readonly bin = existsSync('/usr/local/bin/docker') ? '/usr/local/bin/docker' : 'docker';
  private daemon: ChildProcess | undefined;

  docker(args: string[], input = ''): Run {
    const r = spawnSync(this.bin, ['-H', `unix://${this.sock}`, ...args], { encoding: 'utf8', input, env: { ...process.env, DOCKER_CONFIG: join(this.dir, 'client') }, timeout: 120000, maxBuffer: 1 << 28 });
    return { out: r.stdout, err: r.stderr, code: r.status };
  }

  async start(): Promise<void> {
    chmodSync(this.dir, 0o755);
    this.daemon = spawn('dockerd', [
      '--data-root', join(this.dir, 'data'), '--exec-root', join(this.dir, 'exec'), '--pidfile', join(this.dir, 'dockerd.pid'),
      '-H', `unix://${this.sock}`, '--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-masq=false',
      '--cgroup-parent', this.cgroupParent, '--add-runtime', `berth=${BERTH_RUNTIME}`,
    ], { stdio: ['ignore', 'ignore', 'ignore'] });
    for (let i = 0; i < 300 && this.docker(['version']).code !== 0; i++) await sleep(100);
    if (this.docker(['version']).code !== 0) throw new Error('dockerd did not answer');
  }

  async stop(): Promise<void> {
    for (const id of this.docker(['ps', '-aq']).out.split('\n').filter(Boolean)) this.docker(['rm', '-f', id]);
    const d = this.daemon;
    if (d && d.exitCode === null) {
      const exited = new Promise((r) => d.once('exit', r));
      d.kill('SIGTERM');
      await Promise.race([exited, sleep(20000)]);
      if (d.exitCode === null) d.kill('SIGKILL');
    }
    const ctrPid = join(this.dir, 'exec', 'containerd', 'containerd.pid');
    if (existsSync(ctrPid)) { try { process.kill(Number(readFileSync(ctrPid, 'utf8')), 'SIGKILL'); } catch { /* gone */ } }
    unmountUnder(this.dir);
    removeCgroup(this.cgroupParent);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
