// A container's files: export, the archive API (cp), its changes (diff) and commit.
import type { ServerResponse } from 'node:http';
import type { Engine } from '../engine/index.js';
import { InvalidInput } from '../util/check.js';
import { emptyOk, type Request, type Router } from './server.js';

export function fileRoutes(r: Router, engine: () => Engine): void {
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
  r.add('PUT', '/containers/{id}/archive', async (req, res) => {
    const path = req.query.get('path');
    if (!path) throw new InvalidInput('path', 'is required');
    await engine().putArchive(req.params.id!, path, req.body());
    emptyOk(res);
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
}
