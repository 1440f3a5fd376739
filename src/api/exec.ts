// docker exec: create, start (attached, upgraded or not, or detached), inspect, resize.
import { type Engine, directOutputPid } from '../engine/index.js';
import { emptyOk, type Router } from './server.js';
import { dimension } from './streams.js';

export function execRoutes(r: Router, engine: () => Engine): void {
  r.add('POST', '/containers/{id}/exec', async (req, res) => {
    const out = engine().execCreate(req.params.id!, (await req.json()) as Record<string, unknown>);
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end(JSON.stringify(out));
  });

  r.add('POST', '/exec/{id}/start', async (req, res) => {
    const e = engine();
    const body = (await req.json()) as { Detach?: boolean; Tty?: boolean };
    const x = e.execInspect(req.params.id!);
    if (body.Detach) { await e.execStart(x.ID, undefined, { detach: true }); emptyOk(res); return; } // 200, as dockerd
    // as dockerd: the start request's Tty, not the exec's, says whether the output is framed
    const raw = body.Tty === true;
    const sock = req.hijack(raw ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');
    await e.execStart(x.ID, sock as never, { direct: directOutputPid(req.headers), raw });
  });

  r.add('GET', '/exec/{id}/json', (req) => engine().execInspect(req.params.id!));
  r.add('POST', '/exec/{id}/resize', async (req, res) => {
    await engine().execResize(req.params.id!, dimension(req, 'h'), dimension(req, 'w'));
    emptyOk(res);
  });
}
