// Image endpoints of the Docker Engine API over berth's image store.
import type { ServerResponse } from 'node:http';
import { type ImageStore, parsePlatform, pull, PROGRESS_WORDS, push, familiarName, formatReference, parseReference, pulledName, pullTag, shortReference, imageHistory, imageSummary, inspectImage, listImages, importRootfs, distributionInspect, loginCheck, RegistryError, searchRegistry, load, loadedLines, save, IMAGE_ACTIONS, importedEvents, loadedEvents, prunedEvents, pulledEvents, pushedEvents, removedEvents, savedEvents, taggedEvents, type ImageEvent } from '../image/index.js';
import { ApiError, filtersOf, type Request, type Router } from './server.js';
import { Readable } from 'node:stream';


/** A progress line in docker's JSON message stream. */
function line(res: ServerResponse, msg: Record<string, unknown>): void {
  if (!res.headersSent) res.writeHead(200, { 'content-type': 'application/json' });
  res.write(`${JSON.stringify(msg)}\n`);
}

/** The credentials a client sent in X-Registry-Auth (base64 JSON), if any. */
function authOf(auth: string | string[] | undefined): { username: string; password: string } | undefined {
  if (typeof auth !== 'string' || !auth) return undefined;
  try { const a = JSON.parse(Buffer.from(auth, 'base64').toString()) as { username?: string; password?: string }; if (a.username && a.password) return { username: a.username, password: a.password }; } catch { /* none */ }
  return undefined;
}

/** Tells berthd's events of an image change: action, the image's ID (or a reference for pull and push), attributes. */
export type ImageEvents = (action: string, id: string, attributes: Record<string, string>) => void;

type Emit = (evs: ImageEvent[]) => void;

export function imageRoutes(r: Router, store: () => ImageStore, registryOpts: () => { insecure: string[]; mirrors: string[] }, event: ImageEvents): void {
  const emit: Emit = (evs) => { for (const e of evs) event(e.action, e.id, e.attributes); };
  localImageRoutes(r, store, emit);
  transferRoutes(r, store, registryOpts, emit);
  archiveRoutes(r, store, emit);
}

/** The store's own images: list, inspect, history, tag, prune, remove; and the berth CLI's image events. */
function localImageRoutes(r: Router, store: () => ImageStore, emit: Emit): void {
  r.add('POST', '/berth/image-events', async (req) => {
    const body = await req.json();
    if (!Array.isArray(body)) throw new ApiError(400, 'the body must be a list of image events');
    const evs = body.map((e: Partial<ImageEvent>, i) => {
      if (typeof e?.action !== 'string' || !IMAGE_ACTIONS.has(e.action)) throw new ApiError(400, `[${i}].action: "${e?.action}" is not an image event's action`);
      if (typeof e.id !== 'string') throw new ApiError(400, `[${i}].id must be a string`);
      const attrs = e.attributes ?? {};
      if (typeof attrs !== 'object' || Object.values(attrs).some((v) => typeof v !== 'string')) throw new ApiError(400, `[${i}].attributes must map names to strings`);
      return { action: e.action, id: e.id, attributes: attrs };
    });
    emit(evs);
  });

  r.add('GET', '/images/json', (req) => {
    const s = store();
    return listImages(s, filtersOf(req), 'filters', ['1', 'true'].includes(req.query.get('all') ?? '')).map((i) => imageSummary(s, i));
  });

  r.add('GET', '/images/{name*}/json', (req) => {
    const s = store();
    return inspectImage(s, s.resolve(req.params.name!));
  });

  r.add('GET', '/images/{name*}/history', (req) => {
    const s = store();
    const img = s.resolve(req.params.name!);
    return imageHistory(s, img).map((h, i) => ({
      Id: i === 0 ? img.id : '<missing>', Created: Math.floor(Date.parse(h.created ?? '1970-01-01T00:00:00Z') / 1000), CreatedBy: h.createdBy,
      Tags: i === 0 ? img.names.map(shortReference) : null, Size: h.size, Comment: h.comment,
    }));
  });

  // docker import: a root filesystem tar from the body (fromSrc=-) or an http(s) URL
  r.add('POST', '/images/{name*}/tag', (req, res) => {
    const repo = req.query.get('repo');
    if (!repo) throw new ApiError(400, 'repo is required');
    const name = `${repo}:${req.query.get('tag') || 'latest'}`;
    store().tag(req.params.name!, name);
    emit(taggedEvents(store().resolve(name).id, name));
    res.writeHead(201); res.end();
  });

  r.add('POST', '/images/prune', (req) => {
    const all = filtersOf(req).dangling?.some((v) => v === 'false' || v === '0') ?? false;
    const r2 = store().prune({ all });
    emit(prunedEvents(r2));
    return { ImagesDeleted: [...r2.untagged.map((u) => ({ Untagged: shortReference(u.name) })), ...r2.deleted.map((d) => ({ Deleted: d }))], SpaceReclaimed: r2.reclaimed };
  });

  r.add('DELETE', '/images/{name*}', (req) => {
    const force = ['1', 'true'].includes(req.query.get('force') ?? '');
    const r2 = store().remove(req.params.name!, { force });
    emit(removedEvents(r2));
    return [
      ...r2.untagged.map((u) => ({ Untagged: shortReference(u) })),
      ...r2.deleted.map((d) => ({ Deleted: d })),
    ];
  });
}

/** Images to and from registries and URLs: pull and import (POST /images/create), push. */
function transferRoutes(r: Router, store: () => ImageStore, registryOpts: () => { insecure: string[]; mirrors: string[] }, emit: Emit): void {
  const importFrom = async (req: Request, res: ServerResponse, src: string) => {
    const repo = req.query.get('repo'), tag = req.query.get('tag');
    if (tag && !repo) throw new ApiError(400, `tag "${tag}" needs a repo`);
    const name = repo ? (tag ? `${repo}:${tag}` : repo) : undefined;
    if (name) parseReference(name); // a bad name is refused before the body is read
    const platform = parsePlatform(req.query.get('platform') || undefined);
    let body: Readable;
    if (src === '-') body = req.body();
    else if (/^https?:\/\//.test(src)) {
      const got = await fetch(src).catch((e: Error) => { throw new ApiError(500, `Get "${src}": ${e.message}`); });
      if (!got.ok || !got.body) throw new ApiError(500, `Get "${src}": ${got.status} ${got.statusText}`);
      body = Readable.fromWeb(got.body as never);
    } else throw new ApiError(400, `fromSrc "${src}" is neither - (the request body) nor an http(s) URL`);
    const img = await importRootfs(store(), body, { name, changes: req.query.getAll('changes'), message: req.query.get('message') || `Imported from ${src}`, platform });
    line(res, { status: img.id });
    emit(importedEvents(img));
    res.end();
  };

  r.add('POST', '/images/create', async (req, res) => {
    const from = req.query.get('fromImage'), src = req.query.get('fromSrc');
    if (!from && src) return importFrom(req, res, src);
    if (!from) throw new ApiError(400, 'fromImage or fromSrc is required');
    const tag = req.query.get('tag');
    const ref = tag ? (tag.startsWith('sha256:') ? `${from}@${tag}` : `${from}:${tag}`) : from;
    const parsed = parseReference(ref);
    const shown = pullTag(parsed);
    let started = false;
    const result = await pull(store(), ref, {
      ...registryOpts(), platform: req.query.get('platform') || undefined,
      // the client's credentials (docker's X-Registry-Auth), else what the daemon's own config holds
      credentials: authOf(req.headers['x-registry-auth']),
      progress: (e) => {
        if (!started) { started = true; line(res, { status: `Pulling from ${familiarName(parsed)}`, id: shown ?? parsed.digest }); }
        const status = PROGRESS_WORDS[e.status];
        line(res, { status, id: e.layer, ...(e.status === 'downloading' ? { progressDetail: { current: e.bytes, total: e.size } } : { progressDetail: {} }) });
      },
    });
    if (!started) line(res, { status: `Pulling from ${familiarName(parsed)}`, id: shown ?? parsed.digest });
    line(res, { status: `Digest: ${result.digest}` });
    const pulled = pulledName(parsed);
    line(res, { status: `Status: ${result.downloaded ? 'Downloaded newer image' : 'Image is up to date'} for ${pulled}` });
    emit(pulledEvents(pulled));
    res.end();
  });

  // docker login: the credentials are checked against the registry (GET /v2/), as dockerd does; berthd keeps none
  r.add('POST', '/auth', async (req) => {
    const b = (await req.json()) as { username?: string; password?: string; serveraddress?: string };
    if (typeof b?.username !== 'string' || typeof b.password !== 'string' || !b.username) throw new ApiError(400, 'username and password are required');
    const addr = (b.serveraddress || 'docker.io').replace(/^https?:\/\//, '').replace(/\/.*$/, '');
    const registry = /(^|\.)docker\.io$/.test(addr) ? 'docker.io' : addr;
    try { await loginCheck(registry, { insecure: registryOpts().insecure, credentials: { username: b.username, password: b.password } }); } catch (e) {
      if (e instanceof RegistryError && e.status === 401) throw new ApiError(401, e.message);
      throw e;
    }
    return { Status: 'Login Succeeded', IdentityToken: '' };
  });

  // what a registry holds, without pulling: the manifest's descriptor and platforms; the search API
  r.add('GET', '/distribution/{name*}/json', (req) => distributionInspect(req.params.name!, { insecure: registryOpts().insecure, credentials: authOf(req.headers['x-registry-auth']) }));
  r.add('GET', '/images/search', async (req) => {
    const term = req.query.get('term');
    if (!term) throw new ApiError(400, 'term: the search needs a term');
    const limit = Number(req.query.get('limit') || 25);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new ApiError(400, `Limit ${req.query.get('limit')} is outside the range of [1, 100]`);
    const f = filtersOf(req);
    for (const k of Object.keys(f)) if (!['is-official', 'is-automated', 'stars'].includes(k)) throw new ApiError(400, `invalid filter '${k}'`);
    const stars = Number(f.stars?.[0] ?? 0);
    return (await searchRegistry(term, limit, { insecure: registryOpts().insecure, credentials: authOf(req.headers['x-registry-auth']) }))
      .filter((r) => r.star_count >= stars && (!f['is-official'] || String(r.is_official) === f['is-official'][0]) && (!f['is-automated'] || String(r.is_automated) === f['is-automated'][0]));
  });

  r.add('POST', '/images/{name*}/push', async (req, res) => {
    const tag = req.query.get('tag') || 'latest';
    const name = formatReference({ ...parseReference(req.params.name!), tag });
    line(res, { status: `The push refers to repository [${name.slice(0, name.lastIndexOf(':'))}]` });
    const credentials = authOf(req.headers['x-registry-auth']);
    const r2 = await push(store(), name, { ...registryOpts(), credentials, progress: (layer, status, from) => {
      if (status !== 'pushing') line(res, { status: { exists: 'Layer already exists', mounted: `Mounted from ${from}`, uploaded: 'Pushed' }[status], id: layer, progressDetail: {} });
    } });
    line(res, { status: `${r2.tag}: digest: ${r2.digest} size: ${r2.size}` });
    line(res, { progressDetail: {}, aux: { Tag: r2.tag, Digest: r2.digest, Size: r2.size } });
    emit(pushedEvents(name));
    res.end();
  });

  // dangling=false: every image no container uses, as docker image prune -a
}

/** docker load and docker save. */
function archiveRoutes(r: Router, store: () => ImageStore, emit: Emit): void {
  r.add('POST', '/images/load', async (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }); // as dockerd: what goes wrong is told in the stream
    let images;
    try { images = await load(store(), req.body()); } catch (e) {
      const message = `Error processing tar file: ${(e as Error).message}`;
      line(res, { errorDetail: { message }, error: message });
      res.end();
      return;
    }
    for (const l of loadedLines(images)) line(res, { stream: `${l}\n` });
    emit(loadedEvents(images));
    res.end();
  });
  const saveTo = async (names: string[], res: ServerResponse) => {
    const ids = names.map((n) => store().resolve(n).id); // an unknown name is a 404 before the tar starts
    res.writeHead(200, { 'content-type': 'application/x-tar' });
    await save(store(), names, res);
    emit(savedEvents(ids, names));
    res.end();
  };
  r.add('GET', '/images/get', (req, res) => saveTo(req.query.getAll('names'), res));
  r.add('GET', '/images/{name*}/get', (req, res) => saveTo([req.params.name!], res));
}
