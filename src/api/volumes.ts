// Volume endpoints: list, create, inspect, remove, prune.
import type { Engine } from '../engine/index.js';
import { diskUsage } from '../image/index.js';
import { filtersOf, type Router } from './server.js';

export function volumeView(v: { Name: string; Driver: string; Mountpoint: string; CreatedAt: string; Labels: Record<string, string>; Scope: string; Options: Record<string, string> }) {
  // docker's field order (its CLI prints the struct's; berth's prints this)
  return { CreatedAt: v.CreatedAt, Driver: v.Driver, Labels: v.Labels, Mountpoint: v.Mountpoint, Name: v.Name, Options: v.Options, Scope: v.Scope };
}

export function volumeRoutes(r: Router, engine: () => Engine): void {
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
}
