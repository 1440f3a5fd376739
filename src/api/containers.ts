// Container, exec, volume and event endpoints of the Docker Engine API over
// the engine (src/engine/containers.ts).
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { spawn } from 'node:child_process';
import { parseDetachKeys, type Engine, type ContainerRecord, type EngineEvent } from '../engine/containers.js';
import { readLogs, frame } from '../engine/logs.js';
import { directOutputPid } from '../engine/shim.js';
import { DockerWords, InvalidInput } from '../util/check.js';
import { ageOf } from '../util/duration.js';
import { diskUsage, fileBytes } from '../image/snapshots.js';
import { imageSize, imageSummary, layerChain } from '../image/inspect.js';
import { ApiError, filtersOf, type Request, type Router } from './server.js';

const bool = (v: string | null) => v === '1' || v === 'true' || v === 'True';



export function statusText(r: ContainerRecord): string {
  const st = r.State;
  if (st.Restarting) return `Restarting (${st.ExitCode}) ${ageOf(st.FinishedAt)} ago`;
  if (st.Running) {
    const health = st.Health ? ` (${st.Health.Status === 'starting' ? 'health: starting' : st.Health.Status})` : '';
    return `Up ${ageOf(st.StartedAt)}${st.Paused ? ' (Paused)' : ''}${health}`;
  }
  if (st.Status === 'created') return 'Created';
  if (st.Status === 'removing') return 'Removal In Progress';
  return `Exited (${st.ExitCode}) ${ageOf(st.FinishedAt)} ago`;
}

const command = (r: ContainerRecord) => [r.Path, ...r.Args].join(' ');

export function inspectContainer(e: Engine, r: ContainerRecord) {
  const dir = e.etcDir(r);
  return {
    Id: r.Id, Created: r.Created, Path: r.Path, Args: r.Args, State: r.State, Image: r.Image,
    ResolvConfPath: join(dir, 'resolv.conf'), HostnamePath: join(dir, 'hostname'), HostsPath: join(dir, 'hosts'), LogPath: r.LogPath,
    Name: r.Name, RestartCount: r.RestartCount, Driver: e.images().snapshots.driver, Platform: 'linux', MountLabel: '', ProcessLabel: '', AppArmorProfile: '',
    ExecIDs: null, HostConfig: r.HostConfig, GraphDriver: { Name: e.images().snapshots.driver, Data: null }, Mounts: r.Mounts,
    Config: r.Config,
    NetworkSettings: { Bridge: '', SandboxID: '', Ports: {}, SandboxKey: '', Networks: r.HostConfig.NetworkMode === 'host' ? { host: {} } : { none: {} } },
  };
}

function matches(e: Engine, r: ContainerRecord, f: Record<string, string[]>): boolean {
  for (const [k, vals] of Object.entries(f)) {
    if (!vals.length) continue;
    // docker: every label filter must hold; for the other keys any value may
    const ok = vals[k === 'label' ? 'every' : 'some']((v) => {
      switch (k) {
        case 'id': return r.Id.startsWith(v);
        case 'name': return new RegExp(v).test(r.Name.slice(1));
        case 'status': return r.State.Status === v;
        case 'label': { const [lk, lv] = v.split('=', 2) as [string, string?]; const l = r.Config.Labels ?? {}; return lk in l && (lv === undefined || l[lk] === lv); }
        case 'exited': return r.State.Status === 'exited' && String(r.State.ExitCode) === v;
        case 'ancestor': { try { return e.images().resolve(v).id === r.Image; } catch { return false; } }
        case 'volume': return r.Mounts.some((m) => m.Name === v || m.Destination === v);
        case 'health': return (r.State.Health?.Status ?? 'none') === v;
        case 'is-task': return v === 'false';
        case 'before': case 'since': { // created before or after the container named
          const pivot = e.get(v);
          return k === 'before' ? r.Created < pivot.Created : r.Created > pivot.Created;
        }
        default: throw new InvalidInput('filters', `invalid filter '${k}'`);
      }
    });
    if (!ok) return false;
  }
  return true;
}

/** A tty dimension of a resize (h or w), refused as docker refuses it (strconv.Atoi). */
function dimension(req: Request, key: 'h' | 'w'): number {
  const v = req.query.get(key) ?? '';
  if (!/^[+-]?\d+$/.test(v)) throw new DockerWords(key, `strconv.Atoi: parsing ${JSON.stringify(v)}: invalid syntax`);
  const n = Number(v);
  if (n < 0 || n > 65535) throw new InvalidInput(key, `${v} is not a terminal size (0 to 65535)`);
  return n;
}

/** Resolves when `res` can take more, or has closed (a client gone never drains). */
function drained(res: ServerResponse): Promise<void> {
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

export function containerRoutes(r: Router, engine: () => Engine): void {
  r.add('POST', '/containers/create', async (req, res) => {
    const out = await engine().create(await req.json(), req.query.get('name'));
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end(JSON.stringify(out));
  });

  r.add('GET', '/containers/json', (req) => {
    const e = engine();
    const f = filtersOf(req);
    let list = e.list();
    if (!bool(req.query.get('all')) && !req.query.get('limit') && !f.status) list = list.filter((c) => c.State.Running || c.State.Restarting);
    list = list.filter((c) => matches(e, c, f));
    const limit = Number(req.query.get('limit') ?? -1);
    if (limit > 0) list = list.slice(0, limit);
    const sized = bool(req.query.get('size'));
    return list.map((c) => ({ ...containerSummary(c), ...(sized ? diskSizes(e, c) : {}) }));
  });

  // docker system df: images with their users, containers with their writable layer's size, volumes with theirs
  r.add('GET', '/system/df', () => {
    const e = engine();
    const s = e.images();
    const containers = e.list();
    const images = s.list();
    const users = (imageId: string) => containers.filter((c) => c.Image === imageId).length;
    // a layer in the chains of two images or more is shared: what removing one image would not free
    const chains = images.map((i) => layerChain(s, i.chainID));
    const holders = new Map<string, number>();
    for (const c of new Set(chains.flat())) holders.set(c, chains.filter((ch) => ch.includes(c)).length);
    return {
      LayersSize: Object.values(s.snapshots.all()).reduce((n, l) => n + l.size, 0), // as images' sizes count them
      Images: images.map((i, k) => ({
        ...imageSummary(s, i, users(i.id)),
        SharedSize: imageSize(s, i, chains[k]!.filter((c) => holders.get(c)! > 1)),
      })),
      Containers: containers.map((c) => ({ ...containerSummary(c), ...diskSizes(e, c) })),
      Volumes: e.volumes.list().map((v) => ({ ...volumeView(v), UsageData: { Size: diskUsage(v.Mountpoint), RefCount: e.volumeUsers(v.Name).length } })),
      BuildCache: [],
    };
  });

  r.add('GET', '/containers/{id}/json', (req) => {
    const e = engine();
    const c = e.get(req.params.id!);
    return { ...inspectContainer(e, c), ...(bool(req.query.get('size')) ? diskSizes(e, c) : {}) }; // inspect --size
  });

  r.add('POST', '/containers/{id}/start', async (req, res) => {
    const e = engine();
    const c = e.get(req.params.id!);
    if (c.State.Running) { res.writeHead(304); res.end(); return; }
    await e.start(c.Id);
  });

  r.add('POST', '/containers/{id}/stop', async (req, res) => {
    const t = req.query.get('t');
    const stopped = await engine().stop(req.params.id!, t !== null ? Number(t) : undefined, req.query.get('signal') ?? undefined);
    if (!stopped) { res.writeHead(304); res.end(); }
  });

  r.add('POST', '/containers/{id}/restart', async (req) => {
    const e = engine();
    const t = req.query.get('t');
    await e.stop(req.params.id!, t !== null ? Number(t) : undefined, req.query.get('signal') ?? undefined);
    await e.start(req.params.id!);
  });

  r.add('POST', '/containers/{id}/kill', async (req) => { await engine().kill(req.params.id!, req.query.get('signal') || 'SIGKILL'); });
  r.add('POST', '/containers/{id}/pause', async (req) => { await engine().pause(req.params.id!); });
  r.add('POST', '/containers/{id}/unpause', async (req) => { await engine().unpause(req.params.id!); });
  r.add('POST', '/containers/{id}/update', async (req) => engine().update(req.params.id!, (await req.json()) as Record<string, unknown>));
  r.add('POST', '/containers/{id}/rename', (req) => { engine().rename(req.params.id!, req.query.get('name') ?? ''); });

  r.add('POST', '/containers/{id}/wait', async (req, res) => {
    const e = engine();
    const c = e.get(req.params.id!);
    const cond = req.query.get('condition') || 'not-running';
    if (!['not-running', 'next-exit', 'removed'].includes(cond)) throw new InvalidInput('condition', `invalid condition: "${cond}"`);
    const wait = e.wait(c.Id, cond);
    // headers go out now, so the client knows the wait is in place before it starts the container
    res.writeHead(200, { 'content-type': 'application/json' });
    res.flushHeaders();
    const done = await wait;
    // Error is for a wait that failed, not for a process that did: docker answers null for a start that failed too
    res.end(JSON.stringify({ StatusCode: done.State.ExitCode, Error: null }));
  });

  r.add('DELETE', '/containers/{id}', async (req) => {
    await engine().remove(req.params.id!, { force: bool(req.query.get('force')), volumes: bool(req.query.get('v')) });
  });

  r.add('POST', '/containers/{id}/attach', async (req) => {
    const e = engine();
    const c = e.get(req.params.id!);
    const q = req.query;
    // a stopped container is attached when it next starts (docker start -a attaches first)
    const detachKeys = parseDetachKeys(q.get('detachKeys') || 'ctrl-p,ctrl-q');
    const sock = req.hijack(c.Config.Tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');
    if (bool(q.get('stream'))) await e.attach(c.Id, sock as never, { stdin: bool(q.get('stdin')), stdout: bool(q.get('stdout')), stderr: bool(q.get('stderr')), detachKeys, direct: directOutputPid(req.headers) });
    else sock.end();
  });

  r.add('POST', '/containers/{id}/resize', async (req) => {
    await engine().resizeTty(req.params.id!, dimension(req, 'h'), dimension(req, 'w'));
  });

  r.add('GET', '/containers/{id}/logs', async (req, res) => {
    const e = engine();
    await streamLogs(e, e.get(req.params.id!), req, res);
  });

  r.add('POST', '/containers/{id}/exec', async (req, res) => {
    const out = engine().execCreate(req.params.id!, (await req.json()) as Record<string, unknown>);
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end(JSON.stringify(out));
  });

  r.add('POST', '/exec/{id}/start', async (req) => {
    const e = engine();
    const body = (await req.json()) as { Detach?: boolean; Tty?: boolean };
    const x = e.execInspect(req.params.id!);
    if (body.Detach) { await e.execStart(x.ID, undefined, { detach: true }); return; }
    const sock = req.hijack(x.ProcessConfig.tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');
    await e.execStart(x.ID, sock as never, { direct: directOutputPid(req.headers) });
  });

  r.add('GET', '/exec/{id}/json', (req) => engine().execInspect(req.params.id!));
  r.add('POST', '/exec/{id}/resize', async (req) => {
    await engine().execResize(req.params.id!, dimension(req, 'h'), dimension(req, 'w'));
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

  r.add('POST', '/containers/prune', async () => {
    const e = engine();
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const c of e.list()) {
      if (c.State.Running || c.State.Restarting) continue;
      const { SizeRw } = diskSizes(e, c);
      await e.remove(c.Id, { force: false });
      deleted.push(c.Id);
      reclaimed += SizeRw;
    }
    e.publish('container', 'prune', '', { reclaimed: String(reclaimed) });
    return { ContainersDeleted: deleted, SpaceReclaimed: reclaimed };
  });

  r.add('GET', '/containers/{id}/export', async (_req, res) => {
    const e = engine();
    const c = e.get(_req.params.id!);
    res.writeHead(200, { 'content-type': 'application/x-tar' });
    await e.export(c.Id, res);
    res.end();
  });

  const pathStat = async (req: Request, res: ServerResponse) => {
    const path = req.query.get('path');
    if (!path) throw new InvalidInput('path', 'is required');
    const st = await engine().statPath(req.params.id!, path);
    res.setHeader('X-Docker-Container-Path-Stat', Buffer.from(JSON.stringify(st)).toString('base64'));
    return path;
  };
  r.add('HEAD', '/containers/{id}/archive', async (req, res) => { await pathStat(req, res); res.writeHead(200); res.end(); });
  r.add('GET', '/containers/{id}/archive', async (req, res) => {
    const path = req.query.get('path');
    if (!path) throw new InvalidInput('path', 'is required');
    // stat and tar come from one resolution of the path: the container may swap it in between
    await engine().getArchive(req.params.id!, path, (st) => {
      res.writeHead(200, { 'content-type': 'application/x-tar', 'X-Docker-Container-Path-Stat': Buffer.from(JSON.stringify(st)).toString('base64') });
      return res;
    });
    res.end();
  });
  r.add('PUT', '/containers/{id}/archive', async (req) => {
    const path = req.query.get('path');
    if (!path) throw new InvalidInput('path', 'is required');
    await engine().putArchive(req.params.id!, path, req.body());
  });

  r.add('GET', '/containers/{id}/changes', (req) => engine().changes(req.params.id!));

  r.add('POST', '/commit', async (req, res) => {
    const q = req.query;
    const container = q.get('container');
    if (!container) throw new InvalidInput('container', 'is required');
    const body = (await req.json()) as Record<string, unknown>;
    const id = await engine().commit(container, {
      repo: q.get('repo') || undefined, tag: q.get('tag') || undefined, comment: q.get('comment') || undefined, author: q.get('author') || undefined,
      changes: q.getAll('changes').flatMap((c) => c.split('\n')).filter(Boolean), pause: q.get('pause') !== '0' && q.get('pause') !== 'false',
      config: Object.keys(body).length ? body as never : undefined,
    });
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ Id: id }));
  });

  // ---- volumes ----
  r.add('GET', '/volumes', (req) => {
    const e = engine();
    const f = filtersOf(req);
    let vols = e.volumes.list();
    if (f.dangling?.length) vols = vols.filter((v) => (e.volumeUsers(v.Name).length === 0) === (f.dangling![0] === 'true' || f.dangling![0] === '1'));
    if (f.name?.length) vols = vols.filter((v) => f.name!.some((n) => v.Name.includes(n)));
    return { Volumes: vols.map(volumeView), Warnings: [] };
  });
  r.add('POST', '/volumes/create', async (req, res) => {
    const b = (await req.json()) as { Name?: string; Labels?: Record<string, string>; Driver?: string };
    const v = engine().volumes.create(b.Name || undefined, b.Labels ?? {}, { driver: b.Driver });
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end(JSON.stringify(volumeView(v)));
  });
  r.add('GET', '/volumes/{name}', (req) => volumeView(engine().volumes.get(req.params.name!)));
  r.add('DELETE', '/volumes/{name}', (req) => {
    const e = engine();
    e.volumes.remove(req.params.name!, e.volumeUsers(req.params.name!));
  });
  r.add('POST', '/volumes/prune', (req) => {
    const e = engine();
    const all = filtersOf(req).all?.[0];
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const v of e.volumes.list()) {
      if (e.volumeUsers(v.Name).length) continue;
      if (!v.Anonymous && all !== 'true' && all !== '1') continue;
      const size = diskUsage(v.Mountpoint);
      e.volumes.remove(v.Name, []);
      deleted.push(v.Name);
      reclaimed += size;
    }
    e.publish('volume', 'prune', '', { reclaimed: String(reclaimed) });
    return { VolumesDeleted: deleted, SpaceReclaimed: reclaimed };
  });

  // ---- events ----
  // since/until are unix times ("SECONDS[.NANOS]", as the docker CLI sends them): the past comes from the
  // engine's recent events, and an until in the past ends the answer once they are sent
  r.add('GET', '/events', (req, res) => {
    const e = engine();
    const f = filtersOf(req);
    const time = (k: string) => {
      const v = req.query.get(k);
      if (!v) return undefined;
      if (!/^\d+(\.\d+)?$/.test(v)) throw new ApiError(400, `${k}: "${v}" is not a unix time (SECONDS[.NANOSECONDS])`);
      return BigInt(Math.round(Number(v) * 1e3)) * 1000000n;
    };
    const since = time('since'), until = time('until');
    const wanted = (ev: EngineEvent) => {
      if (f.type?.length && !f.type.includes(ev.Type)) return false;
      if (f.event?.length && !f.event.some((x) => ev.Action.startsWith(x))) return false;
      if (f.container?.length && !(ev.Type === 'container' && f.container.some((x) => ev.id.startsWith(x) || ev.Actor.Attributes.name === x))) return false;
      if (f.volume?.length && !(ev.Type === 'volume' && f.volume.includes(ev.Actor.ID))) return false;
      if (f.image?.length && !f.image.some((x) => ev.Actor.Attributes.image === x || ev.Actor.Attributes.name === x || ev.id.startsWith(x))) return false;
      const t = BigInt(ev.timeNano);
      return (since === undefined || t >= since) && (until === undefined || t <= until);
    };
    res.writeHead(200, { 'content-type': 'application/json' });
    if (since !== undefined) for (const ev of e.recentEvents) if (wanted(ev)) res.write(`${JSON.stringify(ev)}\n`);
    res.flushHeaders();
    return new Promise<void>((done) => {
      const on = (ev: EngineEvent) => { if (wanted(ev)) res.write(`${JSON.stringify(ev)}\n`); };
      e.on('event', on);
      let timer: NodeJS.Timeout | undefined;
      const stop = () => { clearTimeout(timer); e.off('event', on); res.end(); done(); };
      res.on('close', stop);
      // a timer waits at most 2^31-1 ms: a later until re-arms it
      const arm = () => { const wait = Number(until! / 1000000n) - Date.now(); timer = setTimeout(wait > 2147483647 ? arm : stop, Math.max(0, Math.min(wait, 2147483647))); };
      if (until !== undefined) arm();
    });
  });
}

/** A container's writable layer (SizeRw: the bytes of its files, as docker counts them) and that with its image's layers (SizeRootFs). */
function diskSizes(e: Engine, c: ContainerRecord): { SizeRw: number; SizeRootFs: number } {
  const s = e.images();
  const rw = fileBytes(s.snapshots.upperDir(`ctr-${c.Id}`));
  let base = 0;
  try { base = imageSize(s, s.resolve(c.Image)); } catch { /* its image is gone */ }
  return { SizeRw: rw, SizeRootFs: rw + base };
}

function containerSummary(c: ContainerRecord) {
  return {
    Id: c.Id, Names: [c.Name], Image: c.ImageName, ImageID: c.Image, Command: command(c), Created: Math.floor(Date.parse(c.Created) / 1000),
    Ports: [], Labels: c.Config.Labels ?? {}, State: c.State.Status, Status: statusText(c),
    HostConfig: { NetworkMode: c.HostConfig.NetworkMode ?? 'none' }, NetworkSettings: { Networks: {} },
    Mounts: c.Mounts.map((m) => ({ ...m })),
  };
}

function volumeView(v: { Name: string; Driver: string; Mountpoint: string; CreatedAt: string; Labels: Record<string, string>; Scope: string; Options: Record<string, string> }) {
  // docker's field order (its CLI prints the struct's; berth's prints this)
  return { CreatedAt: v.CreatedAt, Driver: v.Driver, Labels: v.Labels, Mountpoint: v.Mountpoint, Name: v.Name, Options: v.Options, Scope: v.Scope };
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
