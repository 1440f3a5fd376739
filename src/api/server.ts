// The Docker Engine API over HTTP on a unix socket: routing with the
// optional /v1.NN prefix, version negotiation, and docker's error shape
// ({"message": ...} with 400/404/409/500). Handlers live in the route files.
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { InvalidInput } from '../util/check.js';
import { Conflict, NotFound } from '../image/store.js';
import { RegistryError } from '../image/registry/client.js';

export const API_VERSION = '1.47';
export const MIN_API_VERSION = '1.41';
const MAX_BODY = 16 * 1024 * 1024;

export class ApiError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

export interface Request {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  raw: IncomingMessage;
  /** The body as JSON ({} when empty); refuses malformed or oversized bodies. */
  json(): Promise<unknown>;
}

export type Handler = (req: Request, res: ServerResponse) => Promise<unknown> | unknown;
interface Route { method: string; pattern: RegExp; keys: string[]; handler: Handler }

export class Router {
  private routes: Route[] = [];
  add(method: string, path: string, handler: Handler): this {
    const keys: string[] = [];
    // {name*} takes the rest (image names have slashes), {id} one segment
    const pattern = new RegExp(`^${path.replace(/\{(\w+)(\*?)\}/g, (_, k: string, rest: string) => { keys.push(k); return rest ? '(.+?)' : '([^/]+)'; })}$`);
    this.routes.push({ method, pattern, keys, handler });
    return this;
  }
  match(method: string, path: string): { route: Route; params: Record<string, string> } | undefined {
    for (const route of this.routes) {
      if (route.method !== method && !(method === 'HEAD' && route.method === 'GET')) continue;
      const m = route.pattern.exec(path);
      if (m) return { route, params: Object.fromEntries(route.keys.map((k, i) => [k, decodeURIComponent(m[i + 1]!)])) };
    }
    return undefined;
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function statusOf(e: unknown): number {
  if (e instanceof ApiError) return e.status;
  if (e instanceof NotFound) return 404;
  if (e instanceof Conflict) return 409;
  if (e instanceof RegistryError) {
    if (e.status === 404) return 404;
    return e.status === 401 || e.status === 403 ? 403 : 500;
  }
  if (e instanceof InvalidInput) return 400;
  return 500;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > MAX_BODY) throw new ApiError(413, `request body is larger than ${MAX_BODY} bytes`);
    parts.push(c as Buffer);
  }
  return Buffer.concat(parts);
}

export function apiServer(router: Router, serverVersion: string): Server {
  return createServer((raw, res) => {
    const url = new URL(raw.url ?? '/', 'http://berth');
    let path = url.pathname;
    const v = /^\/v(\d+\.\d+)(\/.*)$/.exec(path);
    if (v) {
      const [maj, min] = v[1]!.split('.').map(Number);
      const [lmaj, lmin] = MIN_API_VERSION.split('.').map(Number);
      if (maj! < lmaj! || (maj === lmaj && min! < lmin!)) {
        sendJson(res, 400, { message: `client version ${v[1]} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version` });
        return;
      }
      path = v[2]!;
    }
    res.setHeader('Api-Version', API_VERSION);
    res.setHeader('Server', `Berth/${serverVersion} (linux)`);
    res.setHeader('Docker-Experimental', 'false');
    res.setHeader('Ostype', 'linux');
    const hit = router.match(raw.method ?? 'GET', path);
    if (!hit) { sendJson(res, 404, { message: `page not found: ${raw.method} ${path}` }); return; }
    const req: Request = {
      method: raw.method ?? 'GET', path, params: hit.params, query: url.searchParams, headers: raw.headers, raw,
      json: async () => {
        const body = await readBody(raw);
        if (body.length === 0) return {};
        try { return JSON.parse(body.toString()); } catch (e) { throw new ApiError(400, `invalid JSON in the request body: ${(e as Error).message}`); }
      },
    };
    Promise.resolve().then(() => hit.route.handler(req, res)).then((out) => {
      if (res.headersSent) { if (!res.writableEnded) res.end(); return; }
      if (out === undefined) { res.writeHead(204); res.end(); return; }
      sendJson(res, 200, out);
    }, (e: unknown) => {
      const message = (e as Error).message ?? String(e);
      if (res.headersSent) { // a stream already started: report in-band, as docker does
        res.end(`${JSON.stringify({ errorDetail: { message }, error: message })}\n`);
        return;
      }
      sendJson(res, statusOf(e), { message });
    });
  });
}
