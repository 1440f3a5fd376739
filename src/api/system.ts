// System endpoints over the engine and the store: disk usage (system df) and events.
import type { Engine, EngineEvent } from '../engine/index.js';
import { diskUsage, imageSize, imageSummary, layerChain } from '../image/index.js';
import { ApiError, filtersOf, type Router } from './server.js';
import { containerSummary, diskSizes } from './containers.js';
import { volumeView } from './volumes.js';
import { buildCacheDirs } from './build-context.js';

let listening = 0;
/** How many clients follow /events now (/info's NEventsListener). */
export const eventListeners = (): number => listening;

export function systemRoutes(r: Router, engine: () => Engine): void {
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
      Containers: containers.map((c) => ({ ...containerSummary(e, c), ...diskSizes(e, c) })),
      Volumes: e.volumes.list().map((v) => ({ ...volumeView(v), UsageData: { Size: diskUsage(v.Mountpoint), RefCount: e.volumeUsers(v.Name).length } })),
      // the build cache: a build's untagged images; what only they hold is what builder prune frees
      BuildCache: images.map((i, k) => ({ i, k })).filter(({ i }) => i.parent && !i.names.length).map(({ i, k }) => {
        const own = chains[k]!.filter((c) => images.every((o, j) => j === k || (o.parent && !o.names.length) || !chains[j]!.includes(c)));
        const history = s.config(i).history ?? [];
        return {
          ID: i.id.slice(7), Parent: i.parent!.slice(7), Type: 'regular', Description: history[history.length - 1]?.created_by ?? '', InUse: users(i.id) > 0, Shared: own.length < chains[k]!.length,
          Size: imageSize(s, i, own), CreatedAt: s.config(i).created ?? i.added, LastUsedAt: null, UsageCount: 0,
        };
      }).concat(buildCacheDirs(e.dataRoot) as never[]),
    };
  });

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
      listening++;
      let timer: NodeJS.Timeout | undefined;
      let stopped = false;
      const stop = () => { if (stopped) return; stopped = true; clearTimeout(timer); e.off('event', on); listening--; res.end(); done(); };
      res.on('close', stop);
      // a timer waits at most 2^31-1 ms: a later until re-arms it
      const arm = () => { const wait = Number(until! / 1000000n) - Date.now(); timer = setTimeout(wait > 2147483647 ? arm : stop, Math.max(0, Math.min(wait, 2147483647))); };
      if (until !== undefined) arm();
    });
  });
}
