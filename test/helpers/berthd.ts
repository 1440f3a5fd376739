// A private berthd for tests: its own data root, exec root, socket and cgroup
// parent. stop() removes every container, kills any shim left, and leaves no
// mount, cgroup or directory behind.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import { PREFIX, REPO, pidsWhere, removeCgroup, unmountUnder } from './env.js';
import { hostNames, syncDockerUser } from '../../src/network/index.js';
import { pause } from '../../src/util/lock.js';

let n = 0;
export const dockerBin = existsSync('/usr/local/bin/docker') ? '/usr/local/bin/docker' : 'docker';
export const BERTH = join(REPO, 'bin', 'berth');

export type Run = { out: string; err: string; code: number | null };

export class PrivateBerthd {
  readonly dir = mkdtempSync(join(tmpdir(), `${PREFIX}-berthd-`));
  readonly dataRoot = join(this.dir, 'data');
  readonly sock = join(this.dir, 'berth.sock');
  readonly execRoot = `/run/${PREFIX}-e${++n}`;
  readonly cgroupParent = `/${PREFIX}-c${n}`;
  daemon: ChildProcess | undefined;

  /** `isolated`: berthd runs in a network namespace of its own (loopback only), so nothing it does can reach another host. */
  constructor(private readonly opts: { isolated?: boolean; env?: NodeJS.ProcessEnv; args?: string[] } = {}) { chmodSync(this.dir, 0o755); }

  env(): NodeJS.ProcessEnv {
    return { ...process.env, DOCKER_HOST: `unix://${this.sock}`, DOCKER_CONFIG: join(this.dir, 'client') };
  }

  async start(): Promise<void> {
    rmSync(this.sock, { force: true });
    const args = ['--data-root', this.dataRoot, '--exec-root', this.execRoot, '--cgroup-parent', this.cgroupParent, '-H', `unix://${this.sock}`, ...(this.opts.args ?? [])];
    const berthd = join(REPO, 'bin', 'berthd');
    // unshare execs berthd (no fork): the pid is berthd's
    // no test daemon uses the machine's resolvers: an empty list unless the test gives its own
    const resolv = join(this.dir, 'resolv.conf');
    if (!existsSync(resolv)) writeFileSync(resolv, '');
    const env = { ...process.env, BERTH_RESOLV_CONF: resolv, ...this.opts.env };
    this.daemon = this.opts.isolated ? spawn('unshare', ['--net', '--', berthd, ...args], { stdio: ['ignore', 'ignore', 'inherit'], env }) : spawn(berthd, args, { stdio: ['ignore', 'ignore', 'inherit'], env });
    for (let i = 0; i < 200; i++) {
      if (existsSync(this.sock) && (await this.api('GET', '/_ping').catch(() => undefined))?.status === 200) return;
      if (this.daemon.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`berthd did not start (${this.daemon.exitCode !== null ? `it exited: ${this.daemon.exitCode ?? this.daemon.signalCode}` : 'it did not answer in 5 s'})`);
  }

  /** kill -9, as a crash would */
  async crash(): Promise<void> {
    const d = this.daemon!;
    const gone = new Promise((r) => d.once('exit', r));
    d.kill('SIGKILL');
    await gone;
  }

  /** SIGTERM, as `systemctl stop` would: berthd must exit within 10 s, whatever streams are open. */
  async term(): Promise<void> {
    const d = this.daemon!;
    const gone = new Promise((r) => d.once('exit', r));
    d.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise((_r, rej) => { timer = setTimeout(() => rej(new Error('berthd did not exit within 10 s of SIGTERM')), 10000); });
    try { await Promise.race([gone, late]); } finally { clearTimeout(timer); }
  }

  /** The docker CLI against this daemon, with `env` as its environment (this daemon's by default). */
  dockerEnv(args: string[], env: NodeJS.ProcessEnv, input = '', timeout = 120000): Run {
    const r = spawnSync(dockerBin, args, { encoding: 'utf8', input, env, timeout, maxBuffer: 1 << 28 });
    return { out: r.stdout, err: r.stderr, code: r.status };
  }

  docker(args: string[], input = '', timeout = 60000): Run {
    const r = spawnSync(dockerBin, args, { encoding: 'utf8', input, env: this.env(), timeout, maxBuffer: 1 << 28 });
    return { out: r.stdout, err: r.stderr, code: r.status };
  }

  berth(args: string[], input = '', timeout = 60000, env?: NodeJS.ProcessEnv): Run {
    const r = spawnSync(BERTH, ['--data-root', this.dataRoot, '-H', `unix://${this.sock}`, ...args], { encoding: 'utf8', input, timeout, maxBuffer: 1 << 28, env });
    return { out: r.stdout, err: r.stderr, code: r.status };
  }

  /** A raw API call, as a client nobody here wrote would make it. */
  api(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; json: any; text: string }> { // eslint-disable-line @typescript-eslint/no-explicit-any
    return new Promise((res, rej) => {
      const r = request({ socketPath: this.sock, method, path, headers: body !== undefined ? { 'content-type': 'application/json', ...headers } : headers }, (m) => {
        let text = '';
        m.on('data', (d) => { text += d; });
        m.on('end', () => {
          let json;
          try { json = JSON.parse(text); } catch { json = undefined; }
          res({ status: m.statusCode ?? 0, json, text });
        });
      });
      r.on('error', rej);
      r.end(body);
    });
  }

  /** Shims still running for this daemon. */
  shims(): number[] {
    return pidsWhere((read) => { const cmd = read('cmdline'); return cmd.includes('berth-shim') && cmd.includes(this.execRoot); });
  }

  /** The berth CLI workers this daemon started (src/cli/worker-pool.ts). */
  cliWorkers(): number[] {
    return pidsWhere((read) => { const cmd = read('cmdline').split('\0'); return cmd.includes('--cli-worker') && cmd.includes(this.sock); });
  }

  /** The nftables table and default bridge this daemon's networks use on the host. */
  get netNames(): { table: string; defaultBridge: string } { return hostNames(this.dataRoot, '/var/lib/berth'); }

  /** What this daemon's networks have on the host now: its nft table, bridges and host veths (berth's "bv" links). */
  /** berth's links and table on the host; a container's veth goes with its namespace, which the kernel tears down in its own time: waited for up to 3 s. */
  netLeftovers(): string[] {
    let left = this.netLeftoversNow();
    for (let i = 0; i < 30 && left.length; i++) { pause(100); left = this.netLeftoversNow(); }
    return left;
  }

  private netLeftoversNow(): string[] {
    const out: string[] = [];
    if (spawnSync('nft', ['list', 'table', 'inet', this.netNames.table], { encoding: 'utf8' }).status === 0) out.push(`nft table inet ${this.netNames.table}`);
    const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(': ')[1]?.split('@')[0] ?? '');
    for (const l of links) if (l === this.netNames.defaultBridge || (l.startsWith('bv') && l.length === 14)) out.push(`link ${l}`);
    return out;
  }

  async stop(): Promise<void> {
    if (this.daemon && this.daemon.exitCode === null && this.daemon.signalCode === null) {
      const list = await this.api('GET', '/containers/json?all=1').catch(() => undefined);
      for (const c of (list?.json ?? []) as { Id: string }[]) await this.api('DELETE', `/containers/${c.Id}?force=1&v=1`).catch(() => {});
      const nets = await this.api('GET', '/networks').catch(() => undefined);
      for (const n of (nets?.json ?? []) as { Id: string; Name: string }[]) if (!['bridge', 'host', 'none'].includes(n.Name)) await this.api('DELETE', `/networks/${n.Id}`).catch(() => {});
      const gone = new Promise((r) => this.daemon!.once('exit', r));
      this.daemon.kill('SIGTERM');
      await gone;
    }
    for (const p of [...this.shims(), ...this.cliWorkers()]) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
    // the default bridge and the nft table stay while berthd is gone (containers outlive it); a test's go with it
    if (!this.opts.isolated) {
      spawnSync('ip', ['link', 'del', this.netNames.defaultBridge], { stdio: 'ignore' });
      spawnSync('nft', ['delete', 'table', 'inet', this.netNames.table], { stdio: 'ignore' });
      syncDockerUser(this.netNames.table, []); // its accept rules in docker's DOCKER-USER, when docker's FORWARD policy drops
    }
    unmountUnder(this.dir);
    removeCgroup(this.cgroupParent);
    rmSync(this.execRoot, { recursive: true, force: true });
    rmSync(this.dir, { recursive: true, force: true });
  }
}
