// Container endpoints of the Docker Engine API over the engine: create, list,
// inspect and the changes of state (start, stop, kill, wait, remove, ...).
import { join } from 'node:path';
import { inspectHostConfig, type Engine, type ContainerRecord } from '../engine/index.js';
import { InvalidInput } from '../util/check.js';
import { ageOf } from '../util/duration.js';
import { fileBytes, imageSize } from '../image/index.js';
import { ApiError, bool, filtersOf, type Router } from './server.js';
import { networkSettings, summaryNetworks } from './networks.js';

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
    // a container about to be restarted shows as running, as in dockerd
    Id: r.Id, Created: r.Created, Path: r.Path, Args: r.Args, State: { ...r.State, Running: r.State.Running || r.State.Restarting }, Image: r.Image,
    ResolvConfPath: join(dir, 'resolv.conf'), HostnamePath: join(dir, 'hostname'), HostsPath: join(dir, 'hosts'), LogPath: r.LogPath,
    Name: r.Name, RestartCount: r.RestartCount, Driver: e.images().snapshots.driver, Platform: 'linux', MountLabel: '', ProcessLabel: '', AppArmorProfile: '',
    ExecIDs: e.execIds(r), HostConfig: { ...inspectHostConfig(r.HostConfig), Links: legacyLinks(e, r) }, GraphDriver: { Name: e.images().snapshots.driver, Data: graphData(r, e.store.rootfs(r.Id)) }, Mounts: r.Mounts,
    Config: { OnBuild: null, ...r.Config },
    NetworkSettings: networkSettings(e, r),
  };
}

/** GraphDriver.Data as dockerd's overlay2 shows it: the layer directories of the container's root (null for a root that is not an overlay). */
function graphData(r: ContainerRecord, merged: string): Record<string, string> | null {
  const o = r.RootMounts.find((m) => m.type === 'overlay');
  if (!o) return null;
  const opt = (k: string) => o.options.find((x) => x.startsWith(`${k}=`))?.slice(k.length + 1) ?? '';
  return { LowerDir: opt('lowerdir'), MergedDir: merged, UpperDir: opt('upperdir'), WorkDir: opt('workdir') };
}

/** HostConfig.Links as dockerd shows them: "/TARGET:/CONTAINER/ALIAS", for targets that still exist; null for none. */
function legacyLinks(e: Engine, r: ContainerRecord): string[] | null {
  const out = (r.HostConfig.Links ?? []).flatMap((l) => {
    const [name, as] = l.split(':') as [string, string?];
    try { return [`${e.get(name.replace(/^\//, '')).Name}:${r.Name}/${(as ?? name).replace(/^\//, '')}`]; } catch { return []; }
  });
  return out.length ? out : null;
}

const LIST_FILTERS = ['id', 'name', 'status', 'label', 'exited', 'ancestor', 'volume', 'health', 'is-task', 'before', 'since', 'network', 'publish', 'expose'];

/** docker's publish and expose filters: a container PORT[/PROTO] (tcp when none) that is published, or exposed. */
function portFilter(e: Engine, r: ContainerRecord, k: string, v: string): boolean {
  const [port, proto = 'tcp'] = v.split('/');
  if (k === 'expose') return Object.hasOwn(r.Config.ExposedPorts ?? {}, `${port}/${proto}`);
  return e.networkView(r).some((n) => (n.endpoint?.Ports ?? []).some((p) => String(p.containerPort) === port && p.proto === proto)); // a container port with a binding, as dockerd's PortBindings
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
        case 'network': return e.networkView(r).some((n) => n.network.Name === v || n.network.Id.startsWith(v));
        case 'publish': case 'expose': return portFilter(e, r, k, v);
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

/** A container's writable layer (SizeRw: the bytes of its files, as docker counts them) and that with its image's layers (SizeRootFs). */
export function diskSizes(e: Engine, c: ContainerRecord): { SizeRw: number; SizeRootFs: number } {
  const s = e.images();
  const rw = fileBytes(s.snapshots.upperDir(`ctr-${c.Id}`));
  let base = 0;
  try { base = imageSize(s, s.resolve(c.Image)); } catch { /* its image is gone */ }
  return { SizeRw: rw, SizeRootFs: rw + base };
}

export function containerSummary(e: Engine, c: ContainerRecord) {
  return {
    ...summaryNetworks(e, c),
    Id: c.Id, Names: [c.Name], Image: c.ImageName, ImageID: c.Image, Command: command(c), Created: Math.floor(Date.parse(c.Created) / 1000),
    Labels: c.Config.Labels ?? {}, State: c.State.Status, Status: statusText(c),
    HostConfig: { NetworkMode: c.HostConfig.NetworkMode ?? 'none' },
    Mounts: c.Mounts.map((m) => ({ ...m })),
  };
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
    // refused whether or not a container would be tested, as dockerd does
    for (const k of Object.keys(f)) if (!LIST_FILTERS.includes(k)) throw new InvalidInput('filters', `invalid filter '${k}'`);
    let list = e.list();
    if (!bool(req.query.get('all')) && !req.query.get('limit') && !f.status) list = list.filter((c) => c.State.Running || c.State.Restarting);
    list = list.filter((c) => matches(e, c, f));
    const limit = Number(req.query.get('limit') ?? -1);
    if (limit > 0) list = list.slice(0, limit);
    const sized = bool(req.query.get('size'));
    return list.map((c) => ({ ...containerSummary(e, c), ...(sized ? diskSizes(e, c) : {}) }));
  });

  // docker system df: images with their users, containers with their writable layer's size, volumes with theirs
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
    if (bool(req.query.get('link'))) throw new ApiError(500, 'Conflict, cannot remove the default link name of the container'); // dockerd's words and code
    await engine().remove(req.params.id!, { force: bool(req.query.get('force')), volumes: bool(req.query.get('v')) });
  });

  // a legacy link, by the name docker gives it: PARENT/ALIAS
  r.add('DELETE', '/containers/{id}/{alias}', async (req) => {
    if (!bool(req.query.get('link'))) throw new ApiError(404, `No such container: ${req.params.id!}/${req.params.alias!}`);
    await engine().store.unlink(req.params.id!, req.params.alias!);
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
}
