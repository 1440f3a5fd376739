// POST /build (docker's classic builder API, version 1): the context tar is
// unpacked, confined, into the directory kept for builds of the same tags
// and Dockerfile (see build-context.ts); the Dockerfile is read from it,
// .dockerignore applies to what COPY sees, and the build's progress goes
// back as docker's JSON message stream. BuildKit's API (version=2, /session)
// is refused by name.
import { createGunzip } from 'node:zlib';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join, posix } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import type { ServerResponse } from 'node:http';
import { buildImage, type Engine } from '../engine/index.js';
import { BuildError } from '../build/index.js';
import { RootDir, diskUsage, formatReference, parseReference, pull, shortReference, withRootDir, type ImageStore } from '../image/index.js';
import { contextWants, pruneContexts, receiveContext } from './build-context.js';
import { InvalidInput } from '../util/check.js';
import { ignoredBy } from '../util/dockerignore.js';
import { ApiError, type Request, type Router } from './server.js';
import type { ImageEvents } from './images.js';

const BUILDKIT = 'berth serves the classic builder (POST /build, version 1) only: build with DOCKER_BUILDKIT=0, or docker build without buildx. BuildKit\'s API (version=2, /session, /grpc) is not served yet';

function send(res: ServerResponse, msg: Record<string, unknown>): void {
  if (!res.headersSent) res.writeHead(200, { 'content-type': 'application/json' });
  res.write(`${JSON.stringify(msg)}\n`);
}

/** A JSON map in a query parameter (buildargs, labels). */
function jsonMap(req: Request, key: string): Record<string, string | null> {
  const v = req.query.get(key);
  if (!v) return {};
  let m: unknown;
  try { m = JSON.parse(v); } catch { throw new InvalidInput(key, `not JSON: ${v}`); }
  if (!m || typeof m !== 'object' || Array.isArray(m) || Object.values(m).some((x) => x !== null && typeof x !== 'string')) throw new InvalidInput(key, 'must map names to strings');
  return m as Record<string, string | null>;
}

/** The request body, gunzipped when the client compressed it. */
async function contextStream(body: Readable): Promise<Readable> {
  const it = body[Symbol.asyncIterator]();
  const first = await it.next();
  const out = new PassThrough();
  const head: Buffer | undefined = first.done ? undefined : (first.value as Buffer);
  void (async () => {
    try {
      if (head) out.write(head);
      for (let n = await it.next(); !n.done; n = await it.next()) if (!out.write(n.value)) await new Promise((r) => out.once('drain', r));
      out.end();
    } catch (e) { out.destroy(e as Error); }
  })();
  return head && head[0] === 0x1f && head[1] === 0x8b ? out.pipe(createGunzip()) : out;
}

/** berth build's secrets (its own header: docker's classic API has none), id to value; a malformed one is refused by name. */
function secretsOf(req: Request): Map<string, Buffer> {
  const h = req.headers['x-berth-build-secrets'];
  if (typeof h !== 'string') return new Map();
  let m: unknown;
  try { m = JSON.parse(Buffer.from(h, 'base64').toString('utf8')); } catch { throw new InvalidInput('X-Berth-Build-Secrets', 'is not base64 of a JSON object'); }
  if (!m || typeof m !== 'object' || Array.isArray(m) || Object.entries(m).some(([k, v]) => typeof v !== 'string' || !/^[\w.-]+$/.test(k))) throw new InvalidInput('X-Berth-Build-Secrets', 'must map secret ids to base64 values');
  return new Map(Object.entries(m as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
}

/** A file of the context, read inside it (confined); undefined when it is not there. */
function contextFile(dir: string, rel: string): Promise<string | undefined> {
  return withRootDir(dir, (root) => {
    const f = root.stat(posix.normalize(`/${rel}`), true);
    if (!f || !f.st.isFile()) { if (f) RootDir.fromFd(f.fd).close(); return undefined; }
    try { return readFileSync(`/proc/self/fd/${f.fd}`, 'utf8'); } finally { RootDir.fromFd(f.fd).close(); }
  });
}

const tagsOf = (req: Request): string[] => req.query.getAll('t').map((t) => formatReference(parseReference(t)));

export function buildRoutes(r: Router, engine: () => Engine, store: () => ImageStore, registryOpts: () => { insecure: string[]; mirrors: string[] }, event: ImageEvents): void {
  r.add('POST', '/session', () => { throw new ApiError(400, BUILDKIT); });
  r.add('POST', '/build/prune', () => {
    const p = store().pruneBuilt();
    const mounts = join(engine().dataRoot, 'build-mounts'); // RUN --mount=type=cache directories
    const kept = existsSync(mounts) ? diskUsage(mounts) : 0;
    const ids = existsSync(mounts) ? readdirSync(mounts) : [];
    rmSync(mounts, { recursive: true, force: true });
    const contextBytes = pruneContexts(engine().dataRoot); // the contexts kept (those of builds running stay)
    return { CachesDeleted: [...p.images, ...ids], SpaceReclaimed: p.reclaimed + kept + contextBytes };
  });
  r.add('POST', '/berth/build-context', async (req) => contextWants(engine().dataRoot, tagsOf(req), req.query.get('dockerfile') || 'Dockerfile', await req.json()));
  r.add('POST', '/build', async (req, res) => {
    if (req.query.get('version') === '2') throw new ApiError(400, BUILDKIT);
    if (req.query.get('remote')) throw new ApiError(400, 'a remote context (remote=) is not served: send the context as the request body');
    const tags = tagsOf(req); // a bad name is refused before the build starts
    const quiet = ['1', 'true'].includes(req.query.get('q') ?? '');
    const args = jsonMap(req, 'buildargs');
    const e = engine();
    const gone = new AbortController();
    res.on('close', () => { if (!res.writableFinished) gone.abort(); });
    const file = req.query.get('dockerfile') || 'Dockerfile';
    const secrets = secretsOf(req);
    const token = req.headers['x-berth-context'];
    const { dir, done } = await receiveContext(e.dataRoot, tags, file, await contextStream(req.body()), typeof token === 'string' ? token : undefined);
    try {
      const dockerfile = await contextFile(dir, file);
      if (dockerfile === undefined) throw new InvalidInput('dockerfile', `Cannot locate specified Dockerfile: ${file}`);
      const ignoreText = (await contextFile(dir, `${file}.dockerignore`)) ?? (await contextFile(dir, '.dockerignore')) ?? '';
      const ignored = ignoredBy(ignoreText);
      const say = (text: string) => { if (!quiet) send(res, { stream: text }); };
      const id = await buildImage(e, {
        dockerfile, file: posix.basename(file), target: req.query.get('target') ?? '', noCache: ['1', 'true'].includes(req.query.get('nocache') ?? ''),
        pull: ['1', 'true'].includes(req.query.get('pull') ?? ''), network: req.query.get('networkmode') || 'default', signal: gone.signal,
        buildArgs: new Map(Object.entries(args).filter((a): a is [string, string] => a[1] !== null)),
        labels: Object.fromEntries(Object.entries(jsonMap(req, 'labels')).map(([k, v]) => [k, v ?? ''])),
      }, { dir, ignored: (rel) => rel !== '' && ignored(rel), secrets }, {
        pull: async (ref, tell) => {
          tell(`Pulling ${ref}\n`);
          await pull(store(), ref, { ...registryOpts() });
        },
      }, { say, output: (b, stderr) => say(stderr ? `\x1b[91m${b.toString('utf8')}\x1b[0m` : b.toString('utf8')) }, !['0', 'false'].includes(req.query.get('rm') ?? ''));
      send(res, { aux: { ID: id } });
      if (quiet) send(res, { stream: `${id}\n` });
      else send(res, { stream: `Successfully built ${id.replace(/^sha256:/, '').slice(0, 12)}\n` });
      for (const t of tags) {
        store().tag(id, t);
        event('tag', id, { name: shortReference(t) });
        if (!quiet) send(res, { stream: `Successfully tagged ${shortReference(t)}\n` });
      }
      res.end();
    } catch (err) {
      if (err instanceof BuildError && res.headersSent) { // docker's framing for a failed step: its code
        res.end(`${JSON.stringify({ errorDetail: { code: err.code, message: err.message }, error: err.message })}\n`);
        return;
      }
      throw err;
    } finally {
      done();
    }
  });
}
