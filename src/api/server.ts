// The Docker Engine API over HTTP on a unix socket: routing with the
// optional /v1.NN prefix, version negotiation, and docker's error shape
// ({"message": ...} with 400/404/409/500). Handlers live in the route files.
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { Duplex, PassThrough, type Readable } from 'node:stream';
import type { Server as NetServer, Socket } from 'node:net';
import { Conflict, Forbidden, InvalidInput, NotFound } from '../util/check.js';
import { RegistryError } from '../image/index.js';
import { frame } from '../engine/index.js';

import { API_VERSION } from '../version.js';
import { upgradeBody } from '../util/upgrade-body.js';

export { API_VERSION };
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
  /**
   * The body as a stream (a tar, an archive). Destroying it (a pipeline that
   * failed) drops the rest of the body instead of the connection, so the
   * client still reads the error.
   */
  body(): Readable;
  /**
   * Takes over the connection for a raw stream (attach, exec): after a
   * "101 UPGRADED" when the client asked to upgrade, else as a 200 response
   * whose body is the output and whose request body is the input.
   */
  hijack(contentType: string): Duplex;
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

/** 200 with no body: what dockerd answers where its handler writes nothing (resize, PUT archive, network connect); 204 is only where it says so. */
export function emptyOk(res: ServerResponse): void {
  res.writeHead(200);
  res.end();
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
  if (e instanceof Forbidden) return 403;
  if (e instanceof RegistryError) {
    if (e.status === 404) return 404;
    return e.status === 401 || e.status === 403 ? 403 : 500;
  }
  if (e instanceof InvalidInput) return 400;
  return 500;
}

/** A JSON body past this is refused: it is read to its end (kept to MAX_BODY, the rest dropped) and answered 413. */
const MAX_DRAINED = 1024 * 1024 * 1024;

function tooLarge(): ApiError {
  return new ApiError(413, `request body is too large: the limit for a JSON body is ${MAX_BODY / 1024 / 1024} MiB (${MAX_BODY} bytes)`);
}

/**
 * The request's body. One over MAX_BODY is refused (413) once the client
 * has sent it all: answering sooner closes the connection under a client
 * that is still writing, and it loses the answer to EPIPE. What it sends
 * past the limit is dropped as it comes, so memory stays bounded; past
 * MAX_DRAINED the connection goes.
 */
function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n <= MAX_BODY) parts.push(c);
      else if (parts.length) parts.length = 0; // dropped from here on
      if (n > MAX_DRAINED) { reject(tooLarge()); req.destroy(); }
    });
    req.on('end', () => (n <= MAX_BODY ? resolve(Buffer.concat(parts)) : reject(tooLarge())));
    req.on('error', reject);
  });
}

/** The route and API path of a request; an error text when the version is refused. */
function route(router: Router, raw: IncomingMessage): { url: URL; path: string; hit?: ReturnType<Router['match']>; refused?: string } {
  try {
    return routeOf(router, raw);
  } catch (e) { // a path that does not decode (a stray %)
    return { url: new URL('http://berth/'), path: raw.url ?? '', refused: `invalid request path: ${(e as Error).message}` };
  }
}

function routeOf(router: Router, raw: IncomingMessage): { url: URL; path: string; hit?: ReturnType<Router['match']>; refused?: string } {
  const url = new URL(raw.url ?? '/', 'http://berth');
  let path = url.pathname;
  const v = /^\/v(\d+\.\d+)(\/.*)$/.exec(path);
  if (v) {
    const [maj, min] = v[1]!.split('.').map(Number);
    const [lmaj, lmin] = MIN_API_VERSION.split('.').map(Number);
    if (maj! < lmaj! || (maj === lmaj && min! < lmin!)) {
      return { url, path, refused: `client version ${v[1]} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version` };
    }
    path = v[2]!;
  }
  return { url, path, hit: router.match(raw.method ?? 'GET', path) };
}

function bodyStream(raw: IncomingMessage): () => Readable {
  return () => {
    const body = new PassThrough();
    raw.pipe(body);
    body.on('close', () => { if (!raw.readableEnded) { raw.unpipe(body); raw.resume(); } });
    return body;
  };
}

function jsonBody(raw: IncomingMessage) {
  return async () => {
    const body = await readBody(raw);
    if (body.length === 0) return {};
    try { return JSON.parse(body.toString()); } catch (e) { throw new ApiError(400, `invalid JSON in the request body: ${(e as Error).message}`); }
  };
}

const connections = new WeakMap<NetServer, Set<Socket>>();

/** Stops listening and ends every connection: server.close() alone waits for upgraded streams (attach, exec). */
export function closeServer(server: NetServer): Promise<void> {
  const closed = new Promise<void>((res) => server.close(() => res()));
  for (const s of connections.get(server) ?? []) s.destroy();
  return closed;
}

/** A protocol of berth's own on the API socket (the CLI's workers): handles the upgrade request, or says it is not its own. */
export interface UpgradeHandler { owns(path: string): boolean; handle(raw: IncomingMessage, socket: Socket, head: Buffer): void }

/** The error of a raw stream that failed after it began, in the stream's own framing (docker writes it to stdout). */
function streamError(contentType: string, message: string): Buffer {
  const text = Buffer.from(`${message}\r\n`);
  return contentType.includes('multiplexed') ? frame('stdout', text) : text;
}

/** A handler's end: its answer, or its error in docker's shape; in-band (or closing this connection only) once a stream has begun. */
function finish(res: ServerResponse, hijacked: { stream: Duplex; contentType: string } | undefined, outcome: { ok: true; out: unknown } | { ok: false; e: unknown }): void {
  if (outcome.ok) {
    if (hijacked) { hijacked.stream.end(); return; }
    if (res.headersSent) { if (!res.writableEnded) res.end(); return; }
    if (outcome.out === undefined) { res.writeHead(204); res.end(); return; }
    sendJson(res, 200, outcome.out);
    return;
  }
  const message = (outcome.e as Error)?.message ?? String(outcome.e);
  if (hijacked) {
    if (hijacked.stream.writableEnded || hijacked.stream.destroyed) { res.destroy(); return; }
    hijacked.stream.end(streamError(hijacked.contentType, message));
    return;
  }
  if (res.headersSent) { // a stream already started: report in-band, as docker does
    if (res.writableEnded || res.destroyed) { res.destroy(); return; }
    res.end(`${JSON.stringify({ errorDetail: { message }, error: message })}\n`);
    return;
  }
  sendJson(res, statusOf(outcome.e), { message });
}

/** All of a request's headers together. */
const MAX_HEADERS = 8 << 20;

export function apiServer(router: Router, serverVersion: string, own?: UpgradeHandler): Server {
  // large enough for berth build's secrets (a header of their own; up to 500 KiB each)
  const server = createServer({ maxHeaderSize: MAX_HEADERS }, (raw, res) => {
    const { url, path, hit, refused } = route(router, raw);
    if (refused) { sendJson(res, 400, { message: refused }); return; }
    res.setHeader('Api-Version', API_VERSION);
    res.setHeader('Server', `Berth/${serverVersion} (linux)`);
    res.setHeader('Docker-Experimental', 'false');
    res.setHeader('Ostype', 'linux');
    if (!hit) { sendJson(res, 404, { message: `page not found: ${raw.method} ${path}` }); return; }
    // a client that goes away at any byte ends its own response only
    res.on('error', () => res.destroy());
    raw.on('error', () => res.destroy());
    let hijacked: { stream: Duplex; contentType: string } | undefined;
    const req: Request = {
      method: raw.method ?? 'GET', path, params: hit.params, query: url.searchParams, headers: raw.headers, raw,
      json: jsonBody(raw),
      body: bodyStream(raw),
      hijack: (contentType) => {
        res.writeHead(200, { 'content-type': contentType });
        res.flushHeaders();
        const stream = Duplex.from({ readable: raw, writable: res });
        stream.on('error', () => res.destroy());
        hijacked = { stream, contentType };
        return stream;
      },
    };
    Promise.resolve().then(() => hit.route.handler(req, res)).then(
      (out) => finish(res, hijacked, { ok: true, out }),
      (e: unknown) => finish(res, hijacked, { ok: false, e }),
    ).catch(() => res.destroy());
  });
  const open = new Set<Socket>();
  connections.set(server, open);
  server.on('connection', (s: Socket) => { open.add(s); s.once('close', () => open.delete(s)); });
  server.on('clientError', (_e, s: Socket) => { if (s.writable) s.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'); else s.destroy(); });
  // attach and exec ask to upgrade to a raw stream ("Upgrade: tcp")
  server.on('upgrade', (raw: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    if (own?.owns(raw.url ?? '')) { own.handle(raw, socket, head); return; }
    const { url, path, hit, refused } = route(router, raw);
    const fail = (status: number, message: string) => {
      const text = JSON.stringify({ message });
      if (!socket.writable) { socket.destroy(); return; }
      socket.end(`HTTP/1.1 ${status} ${status === 404 ? 'Not Found' : status === 409 ? 'Conflict' : status === 400 ? 'Bad Request' : status === 413 ? 'Payload Too Large' : 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nApi-Version: ${API_VERSION}\r\n\r\n${text}`);
    };
    if (refused) { fail(400, refused); return; }
    if (!hit) { fail(404, `page not found: ${raw.method} ${path}`); return; }
    let hijacked: string | undefined;
    const req: Request = {
      method: raw.method ?? 'GET', path, params: hit.params, query: url.searchParams, headers: raw.headers, raw,
      // the body (exec start's options) comes on the socket, after the headers
      json: async () => {
        const n = Number(raw.headers['content-length'] ?? 0);
        if (n > MAX_BODY) throw tooLarge();
        const { body, rest } = await upgradeBody(socket, head, n);
        head = rest;
        if (body.length === 0) return {};
        try { return JSON.parse(body.toString()); } catch (e) { throw new ApiError(400, `invalid JSON in the request body: ${(e as Error).message}`); }
      },
      body: () => { throw new ApiError(400, 'this endpoint takes no streamed body on an upgraded connection'); },
      hijack: (contentType) => {
        hijacked = contentType;
        socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nApi-Version: ${API_VERSION}\r\n\r\n`);
        if (head.length) socket.unshift(head);
        return socket;
      },
    };
    Promise.resolve().then(() => hit.route.handler(req, undefined as unknown as ServerResponse)).then(() => {
      if (!hijacked) fail(500, 'this endpoint does not stream');
    }, (e: unknown) => {
      const message = (e as Error)?.message ?? String(e);
      if (!hijacked) fail(statusOf(e), message);
      else if (socket.writable && !socket.writableEnded) socket.end(streamError(hijacked, message)); // in-band, as docker does
      else socket.destroy();
    }).catch(() => socket.destroy());
  });
  return server;
}

/** The filters query parameter (docker's {"key": ["v"]} or {"key": {"v": true}}) as lists of values. */
export function filtersOf(req: Request): Record<string, string[]> {
  const f = req.query.get('filters');
  if (!f) return {};
  let raw: unknown;
  try { raw = JSON.parse(f); } catch { throw new InvalidInput('filters', `invalid filter JSON: ${f}`); }
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    out[k] = Array.isArray(v) ? v.map(String) : Object.keys(v as object).filter((x) => (v as Record<string, boolean>)[x]);
  }
  return out;
}

/** A boolean query parameter as docker reads one. */
export const bool = (v: string | null): boolean => v === '1' || v === 'true' || v === 'True';
