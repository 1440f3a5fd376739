// What streams out of a running container: attach, logs, stats, and top;
// resizing its tty.
import type { ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { cpus, totalmem } from 'node:os';
import { spawn } from 'node:child_process';
import { parseDetachKeys, type Engine, type ContainerRecord, readLogs, frame, directOutputPid } from '../engine/index.js';
import { DockerWords, InvalidInput } from '../util/check.js';
import { ApiError, bool, emptyOk, type Request, type Router } from './server.js';

/** A tty dimension of a resize (h or w), refused as docker refuses it (strconv.Atoi). */
export function dimension(req: Request, key: 'h' | 'w'): number {
  const v = req.query.get(key) ?? '';
  if (!/^[+-]?\d+$/.test(v)) throw new DockerWords(key, `strconv.Atoi: parsing ${JSON.stringify(v)}: invalid syntax`);
  const n = Number(v);
  if (n < 0 || n > 65535) throw new InvalidInput(key, `${v} is not a terminal size (0 to 65535)`);
  return n;
}

/** Resolves when `res` can take more, or has closed (a client gone never drains). */
function drained(res: Writable): Promise<void> {
  if (res.destroyed || res.writableEnded) return Promise.resolve();
  return new Promise((ok) => {
    const done = () => { res.off('drain', done); res.off('close', done); ok(); };
    res.once('drain', done);
    res.once('close', done);
  });
}

async function streamLogs(e: Engine, r: ContainerRecord, req: Request, res: ServerResponse): Promise<void> {
  if (r.HostConfig.LogConfig?.Type === 'none') throw new ApiError(501, 'configured logging driver does not support reading');
  const q = req.query;
  const stdout = bool(q.get('stdout')), stderr = bool(q.get('stderr'));
  if (!stdout && !stderr) throw new InvalidInput('logs', 'Bad parameters: you must choose at least one stream');
  const tail = q.get('tail');
  const num = (s: string | null) => (s && s !== '0' ? Number(s) : undefined);
  const timestamps = bool(q.get('timestamps'));
  // details: the log's extra attributes (docker's labels and env log options), comma-joined, then a space; berth keeps none
  const details = bool(q.get('details')) ? ' ' : '';
  res.writeHead(200, { 'content-type': r.Config.Tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream' });
  res.flushHeaders();
  let closed = false;
  res.on('close', () => { closed = true; });
  const logs = readLogs(r.LogPath, {
    stdout, stderr, follow: bool(q.get('follow')), since: num(q.get('since')), until: num(q.get('until')),
    tail: tail && tail !== 'all' ? Number(tail) : undefined,
  }, () => e.list().includes(r) && (r.State.Running || r.State.Restarting), () => closed, r.HostConfig.LogConfig?.Type === 'local' ? 'local' : 'json');
  for await (const entry of logs) {
    const prefix = `${timestamps ? `${entry.time} ` : ''}${details}`;
    const data = prefix ? Buffer.concat([Buffer.from(prefix), entry.log]) : entry.log;
    if (closed) break;
    if (!res.write(r.Config.Tty ? data : frame(entry.stream, data))) await drained(res);
  }
  res.end();
}

/** attach?logs=1: the output logged so far, framed as the attach's stream is, before any live output (as dockerd). */
async function replayLogs(r: ContainerRecord, sock: Writable, stdout: boolean, stderr: boolean): Promise<void> {
  const type = r.HostConfig.LogConfig?.Type;
  if ((!stdout && !stderr) || (type !== 'json-file' && type !== 'local' && type !== undefined)) return;
  let closed = false;
  sock.once('close', () => { closed = true; });
  for await (const entry of readLogs(r.LogPath, { stdout, stderr, follow: false }, () => false, () => closed, type === 'local' ? 'local' : 'json')) {
    if (closed) return;
    if (!sock.write(r.Config.Tty ? entry.log : frame(entry.stream, entry.log))) await drained(sock);
  }
}

function statsOf(e: Engine, c: ContainerRecord): Record<string, unknown> {
  const read = new Date().toISOString();
  if (!c.State.Running) return { read, name: c.Name, id: c.Id, pids_stats: {}, memory_stats: {}, cpu_stats: { cpu_usage: { total_usage: 0 }, system_cpu_usage: 0, online_cpus: 0 }, precpu_stats: { cpu_usage: { total_usage: 0 } }, blkio_stats: {}, networks: {} };
  const s = e.runtime.stats(c.Id);
  const sys = systemCpu();
  return {
    read, preread: read, name: c.Name, id: c.Id, num_procs: 0,
    pids_stats: { current: s.pids.current, limit: s.pids.limit },
    memory_stats: { usage: s.memory.usage, max_usage: s.memory.maxUsage, limit: s.memory.limit ?? totalMem(), stats: { cache: s.memory.cache ?? 0, rss: s.memory.rss ?? 0, inactive_file: s.memory.inactiveFile ?? 0, total_inactive_file: s.memory.inactiveFile ?? 0 }, failcnt: s.memory.failcnt },
    cpu_stats: { cpu_usage: { total_usage: s.cpu.usageNs ?? 0, usage_in_kernelmode: s.cpu.systemNs ?? 0, usage_in_usermode: s.cpu.userNs ?? 0 }, system_cpu_usage: sys, online_cpus: onlineCpus(), throttling_data: { periods: 0, throttled_periods: s.cpu.throttledPeriods ?? 0, throttled_time: s.cpu.throttledNs ?? 0 } },
    precpu_stats: { cpu_usage: { total_usage: 0 }, system_cpu_usage: 0, online_cpus: onlineCpus() },
    blkio_stats: { io_service_bytes_recursive: [{ major: 0, minor: 0, op: 'read', value: s.blkio.readBytes }, { major: 0, minor: 0, op: 'write', value: s.blkio.writeBytes }] },
    networks: {},
  };
}

const onlineCpus = () => cpus().length;
const totalMem = () => totalmem();
/** Host CPU time in ns, as docker computes system_cpu_usage (from /proc/stat, in clock ticks of 10 ms). */
function systemCpu(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1, 8).map(Number);
  return line.reduce((a, b) => a + b, 0) * 1e7;
}

export function streamRoutes(r: Router, engine: () => Engine): void {
  r.add('POST', '/containers/{id}/attach', async (req) => {
    const e = engine();
    const c = e.get(req.params.id!);
    const q = req.query;
    // a stopped container is attached when it next starts (docker start -a attaches first)
    const detachKeys = parseDetachKeys(q.get('detachKeys') || 'ctrl-p,ctrl-q');
    // a body is read and dropped, as dockerd drops it: dockerode sends its options there, and they are not stdin
    if (Number(req.headers['content-length'] ?? 0) > 0) await req.json().catch(() => undefined);
    const sock = req.hijack(c.Config.Tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');
    if (bool(q.get('logs'))) await replayLogs(c, sock as never, bool(q.get('stdout')), bool(q.get('stderr')));
    if (bool(q.get('stream'))) await e.attach(c.Id, sock as never, { stdin: bool(q.get('stdin')), stdout: bool(q.get('stdout')), stderr: bool(q.get('stderr')), detachKeys, direct: directOutputPid(req.headers) });
    else sock.end();
  });

  r.add('POST', '/containers/{id}/resize', async (req, res) => {
    await engine().resizeTty(req.params.id!, dimension(req, 'h'), dimension(req, 'w'));
    emptyOk(res);
  });

  r.add('GET', '/containers/{id}/logs', async (req, res) => {
    const e = engine();
    await streamLogs(e, e.get(req.params.id!), req, res);
  });

  r.add('GET', '/containers/{id}/top', (req) => {
    const e = engine();
    const c = e.get(req.params.id!);
    if (!c.State.Running) throw new ApiError(409, `Container ${c.Id} is not running`);
    const pids = e.runtime.pids(c.Id);
    return new Promise((ok, fail) => {
      const args = (req.query.get('ps_args') || '-ef').split(/\s+/).filter(Boolean);
      const ps = spawn('ps', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      ps.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      ps.on('error', fail);
      ps.on('close', () => {
        const lines = out.split('\n').filter(Boolean);
        const titles = lines[0]!.trim().split(/\s+/);
        const pidCol = titles.indexOf('PID');
        const procs = lines.slice(1).map((l) => { const f = l.trim().split(/\s+/); return [...f.slice(0, titles.length - 1), f.slice(titles.length - 1).join(' ')]; })
          .filter((f) => pids.includes(Number(f[pidCol])));
        ok({ Titles: titles, Processes: procs });
      });
    });
  });

  r.add('GET', '/containers/{id}/stats', async (req, res) => {
    const e = engine();
    const c = e.get(req.params.id!);
    const stream = req.query.get('stream') === null || bool(req.query.get('stream'));
    const one = () => statsOf(e, c);
    if (!stream) {
      // as docker answers: precpu_stats from a sample a second earlier, unless one-shot
      const first = one();
      if (bool(req.query.get('one-shot')) || !c.State.Running) return first;
      await new Promise((ok) => setTimeout(ok, 1000));
      return { ...one(), precpu_stats: first.cpu_stats };
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    let prev = one();
    res.write(`${JSON.stringify(prev)}\n`);
    let closed = false;
    res.on('close', () => { closed = true; });
    while (!closed && c.State.Running) {
      await new Promise((ok) => setTimeout(ok, 1000));
      const next: Record<string, unknown> = { ...one(), precpu_stats: prev.cpu_stats };
      res.write(`${JSON.stringify(next)}\n`);
      prev = next;
    }
    res.end();
  });
}
