// docker's HEALTHCHECK: the test run as an exec every interval while the
// container runs; its status, failing streak and last five results.
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { ContainerRecord } from './records.js';
import type { ContainerState } from './types.js';
import type { Execs } from './exec.js';

/** What the engine lends the health checks. */
export interface HealthHost {
  setState(r: ContainerRecord, s: Partial<ContainerState>): void;
  event(r: ContainerRecord, action: string): void;
  execs(): Execs;
  shutting(): boolean;
}

/** The text of docker stdcopy frames (a health check's output). */
function demuxText(b: Buffer): string {
  let out = '';
  for (let i = 0; i + 8 <= b.length;) {
    const n = b.readUInt32BE(i + 4);
    out += b.subarray(i + 8, i + 8 + n).toString();
    i += 8 + n;
  }
  return out;
}

export class HealthChecks {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly host: HealthHost) {}

  /** Runs the container's HEALTHCHECK (image or --health-*) every interval while it runs. */
  start(r: ContainerRecord): void {
    const hc = r.Config.Healthcheck;
    const test = hc?.Test ?? [];
    if (!hc || test.length === 0 || test[0] === 'NONE') return;
    const cmd = test[0] === 'CMD-SHELL' ? ['/bin/sh', '-c', test.slice(1).join(' ')] : test[0] === 'CMD' ? test.slice(1) : test;
    const ms = (ns: number | undefined, def: number) => (ns && ns > 0 ? ns / 1e6 : def);
    const interval = ms(hc.Interval, 30000), timeout = ms(hc.Timeout, 30000), retries = hc.Retries && hc.Retries > 0 ? hc.Retries : 3;
    const startPeriod = ms(hc.StartPeriod, 0);
    const started = Date.now();
    if (!r.State.Health) this.host.setState(r, { Health: { Status: 'starting', FailingStreak: 0, Log: [] } });
    const probe = async () => {
      if (!r.State.Running || this.host.shutting()) return;
      const start = new Date().toISOString();
      let code = -1, output = '';
      try {
        const x = this.host.execs().create(r.Id, { Cmd: cmd, AttachStdout: true, AttachStderr: true });
        const sink = new Duplex({ read() {}, write(chunk: Buffer, _e, cb) { if (output.length < 4096) output += demuxText(chunk); cb(); } });
        const run = this.host.execs().start(x.Id, sink as unknown as Socket);
        const timedOut = new Promise<'timeout'>((res) => setTimeout(() => res('timeout'), timeout).unref());
        if ((await Promise.race([run, timedOut])) === 'timeout') {
          const e = this.host.execs().record(x.Id);
          if (e?.Pid) { try { process.kill(e.Pid, 'SIGKILL'); } catch { /* gone */ } }
          output = `Health check exceeded timeout (${timeout / 1000}s)`;
        } else code = this.host.execs().record(x.Id)?.ExitCode ?? -1;
        this.host.execs().forget(x.Id);
      } catch (e) { output = (e as Error).message; }
      if (!r.State.Running || !r.State.Health) return;
      const h = { ...r.State.Health };
      h.Log = [...h.Log, { Start: start, End: new Date().toISOString(), ExitCode: code, Output: output.slice(0, 4096) }].slice(-5);
      const before = h.Status;
      if (code === 0) { h.Status = 'healthy'; h.FailingStreak = 0; } else if (Date.now() - started >= startPeriod || h.Status !== 'starting') {
        h.FailingStreak++;
        if (h.FailingStreak >= retries) h.Status = 'unhealthy';
      }
      this.host.setState(r, { Health: h });
      if (h.Status !== before) this.host.event(r, `health_status: ${h.Status}`);
    };
    const tick = () => { void probe().finally(() => { if (r.State.Running && this.timers.has(r.Id)) this.timers.set(r.Id, setTimeout(tick, interval)); }); };
    this.timers.set(r.Id, setTimeout(tick, interval));
  }

  stop(r: ContainerRecord): void {
    clearTimeout(this.timers.get(r.Id));
    this.timers.delete(r.Id);
  }

  stopAll(): void {
    for (const t of this.timers.values()) clearTimeout(t);
  }
}
