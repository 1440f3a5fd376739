// A client of the OCI distribution API (Docker registry v2): anonymous,
// basic and bearer-token auth, retries where they can help, and errors that
// say what the registry said.
import type { Readable } from 'node:stream';
import { httpGet, type Reply } from './http-get.js';
import { InvalidInput } from '../../util/check.js';
import { digestOf, parseDigest } from '../content.js';
import { INDEX_TYPES, MANIFEST_TYPES } from '../oci/types.js';
import { VERSION } from '../../version.js';
import type { Credentials } from './credentials.js';

export const MAX_MANIFEST = 4 * 1024 * 1024;
const ACCEPT = [...MANIFEST_TYPES, ...INDEX_TYPES].join(', ');
const RETRY = new Set([429, 500, 502, 503, 504]);

export class RegistryError extends Error {
  constructor(readonly status: number, message: string) { super(message); this.name = 'RegistryError'; }
}

export interface ClientOptions {
  /** Registries spoken to over plain http besides localhost and 127.0.0.0/8. */
  insecure?: string[];
  credentials?: Credentials;
  /** Endpoints tried before the registry itself for pulls (http(s)://host[:port]). */
  mirrors?: string[];
  retries?: number;
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

function parseChallenge(h: string): { scheme: string; params: Record<string, string> } {
  const scheme = h.split(' ', 1)[0]!.toLowerCase();
  const params: Record<string, string> = {};
  for (const m of h.slice(scheme.length).matchAll(/(\w+)="([^"]*)"/g)) params[m[1]!] = m[2]!;
  return { scheme, params };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface RequestOptions { scope: string; headers?: Record<string, string>; body?: Buffer; ok?: number[]; redirect?: RequestRedirect }

export class RegistryClient {
  private tokens = new Map<string, string>();
  private basic = false;
  readonly endpoint: string;

  constructor(readonly registry: string, private readonly opts: ClientOptions = {}, endpoint?: string) {
    const host = registry === 'docker.io' ? 'registry-1.docker.io' : registry;
    const plain = isLoopback(host) || (opts.insecure ?? []).includes(registry);
    this.endpoint = endpoint ?? `${plain ? 'http' : 'https'}://${host}`;
  }

  /** The same registry through each mirror, then itself. */
  static withMirrors(registry: string, opts: ClientOptions): RegistryClient[] {
    return [...(opts.mirrors ?? []).map((m) => new RegistryClient(registry, opts, m.replace(/\/+$/, ''))), new RegistryClient(registry, opts)];
  }

  private async token(challenge: { scheme: string; params: Record<string, string> }, scope: string): Promise<void> {
    const c = this.opts.credentials;
    if (challenge.scheme === 'basic') {
      if (!c) throw new RegistryError(401, `${this.registry}: authentication required (berth login ${this.registry})`);
      this.basic = true;
      return;
    }
    const { realm, service } = challenge.params;
    if (!realm) throw new RegistryError(401, `${this.registry}: bearer challenge without a realm`);
    const url = new URL(realm);
    if (service) url.searchParams.set('service', service);
    // one scope parameter each (a cross-repository mount needs pull on the source too)
    for (const sc of new Set([...(challenge.params.scope ?? '').split(' '), ...scope.split(' ')].filter(Boolean))) url.searchParams.append('scope', sc);
    const headers: Record<string, string> = { 'user-agent': `berth/${VERSION}` };
    if (c) headers.authorization = `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
    const r = await fetch(url, { headers });
    if (!r.ok) throw new RegistryError(r.status, `${this.registry}: token service ${url.host} answered ${r.status}${r.status === 401 ? ' (wrong credentials?)' : ''}`);
    const body = await r.json() as { token?: string; access_token?: string };
    const t = body.token ?? body.access_token;
    if (!t) throw new RegistryError(502, `${this.registry}: token service gave no token`);
    this.tokens.set(scope, t);
  }

  /** One request with auth and retries; `ok` lists the statuses the caller handles itself. */
  async request(method: string, path: string, o: RequestOptions = { scope: '' }): Promise<Response> {
    return this.exchange(method, path, o, (url, headers) => fetch(url, { method, headers, body: o.body as unknown as BodyInit | undefined, redirect: o.redirect ?? 'follow' }));
  }

  /** One request with the auth and retries of the registry's rules; `send` makes the HTTP exchange. */
  private async exchange<R extends Reply>(method: string, path: string, o: RequestOptions, send: (url: string, headers: Record<string, string>) => Promise<R>): Promise<R> {
    const retries = this.opts.retries ?? 3;
    let authTried = false;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { 'user-agent': `berth/${VERSION}`, ...o.headers };
      const t = this.tokens.get(o.scope);
      const c = this.opts.credentials;
      if (t) headers.authorization = `Bearer ${t}`;
      else if (this.basic && c) headers.authorization = `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
      let r: R;
      try {
        r = await send(`${this.endpoint}${path}`, headers);
      } catch (e) {
        if (attempt < retries) { await sleep(200 * 2 ** attempt); continue; }
        const cause = (e as { cause?: Error }).cause?.message ?? (e as Error).message;
        throw new RegistryError(0, `${this.registry}: cannot reach ${this.endpoint}: ${cause}`);
      }
      if (r.status === 401 && !authTried) {
        authTried = true;
        await r.body?.cancel();
        await this.token(parseChallenge(r.headers.get('www-authenticate') ?? ''), o.scope);
        attempt--;
        continue;
      }
      if (RETRY.has(r.status) && attempt < retries) {
        const after = Number(r.headers.get('retry-after'));
        await r.body?.cancel();
        await sleep(Number.isFinite(after) && after > 0 ? Math.min(after, 5) * 1000 : 200 * 2 ** attempt);
        continue;
      }
      if (r.ok || (o.ok ?? []).includes(r.status)) return r;
      throw await this.failure(r, method, path);
    }
  }

  private async failure(r: Reply, method: string, path: string): Promise<RegistryError> {
    let detail = '';
    try {
      const j = await r.json() as { errors?: { code?: string; message?: string }[] };
      detail = (j.errors ?? []).map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
    } catch { /* not JSON */ }
    const what: Record<number, string> = { 401: 'unauthorized', 403: 'denied', 404: 'not found', 429: 'too many requests (still after retries)' };
    const hint = r.status === 401 ? ` (berth login ${this.registry})` : '';
    return new RegistryError(r.status, `${this.registry}: ${method} ${path}: ${r.status} ${what[r.status] ?? r.statusText}${detail ? `: ${detail}` : ''}${hint}`);
  }

  /** A manifest or index, checked against the digest asked for (or the one the registry names); over node:http, as blobs (a pull then never loads fetch). */
  async manifest(repo: string, ref: string): Promise<{ body: Buffer; mediaType: string; digest: string }> {
    const r = await this.exchange('GET', `/v2/${repo}/manifests/${ref}`, { scope: `repository:${repo}:pull`, headers: { accept: ACCEPT } }, httpGet);
    const len = Number(r.headers.get('content-length'));
    if (len > MAX_MANIFEST) { await r.body?.cancel(); throw new InvalidInput(`${repo}:${ref}`, `manifest of ${len} bytes is larger than the ${MAX_MANIFEST} berth accepts`); }
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of r.body as unknown as AsyncIterable<Uint8Array>) {
      n += c.length;
      if (n > MAX_MANIFEST) throw new InvalidInput(`${repo}:${ref}`, `manifest is larger than the ${MAX_MANIFEST} bytes berth accepts`);
      chunks.push(Buffer.from(c));
    }
    const body = Buffer.concat(chunks);
    const want = ref.includes(':') ? ref : r.headers.get('docker-content-digest') ?? undefined;
    const alg = want ? parseDigest(want, `manifest ${repo}@${want}`).algorithm : 'sha256';
    const digest = digestOf(body, alg);
    if (want && digest !== want) throw new InvalidInput(`${repo}@${want}`, `the registry sent a manifest with digest ${digest}`);
    let mediaType = (r.headers.get('content-type') ?? '').split(';')[0]!.trim();
    try { mediaType = (JSON.parse(body.toString()) as { mediaType?: string }).mediaType ?? mediaType; } catch { /* checked by the caller */ }
    return { body, mediaType, digest };
  }

  /** A blob's bytes as a Node stream, over node:http(s) (http-get.ts says why). */
  async blob(repo: string, digest: string): Promise<{ stream: Readable; size: number }> {
    const r = await this.exchange('GET', `/v2/${repo}/blobs/${digest}`, { scope: `repository:${repo}:pull` }, httpGet);
    return { stream: r.body, size: Number(r.headers.get('content-length') ?? -1) };
  }

  async hasBlob(repo: string, digest: string, scope = `repository:${repo}:pull,push`): Promise<boolean> {
    const r = await this.request('HEAD', `/v2/${repo}/blobs/${digest}`, { scope, ok: [404] });
    return r.status === 200;
  }

  /**
   * Uploads a blob unless the registry has it: a cross-repository mount when
   * `mountFrom` names a repository that holds it, else POST then one PUT
   * (monolithic) or PATCH chunks of `chunkSize` and a closing PUT.
   */
  async pushBlob(repo: string, digest: string, size: number, data: () => Readable, o: { mountFrom?: string; chunkSize?: number } = {}): Promise<'exists' | 'mounted' | 'uploaded'> {
    const scope = `repository:${repo}:pull,push`;
    if (await this.hasBlob(repo, digest, scope)) return 'exists';
    const q = o.mountFrom ? `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(o.mountFrom)}` : '';
    const start = await this.request('POST', `/v2/${repo}/blobs/uploads/${q}`, { scope: o.mountFrom ? `${scope} repository:${o.mountFrom}:pull` : scope, ok: [201, 202], headers: { 'content-length': '0' } });
    if (start.status === 201) return 'mounted';
    let location = this.absolute(start.headers.get('location'));
    const withDigest = (loc: string) => `${loc}${loc.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
    if (!o.chunkSize || size <= o.chunkSize) {
      const body = await readAll(data());
      await this.request('PUT', withDigest(location), { scope, body, headers: { 'content-type': 'application/octet-stream', 'content-length': String(body.length) }, ok: [201] });
      return 'uploaded';
    }
    let offset = 0;
    for await (const chunk of chunked(data(), o.chunkSize)) {
      const r = await this.request('PATCH', location, { scope, body: chunk, ok: [202], headers: { 'content-type': 'application/octet-stream', 'content-length': String(chunk.length), 'content-range': `${offset}-${offset + chunk.length - 1}` } });
      offset += chunk.length;
      location = this.absolute(r.headers.get('location'));
    }
    await this.request('PUT', withDigest(location), { scope, headers: { 'content-length': '0' }, ok: [201] });
    return 'uploaded';
  }

  async putManifest(repo: string, ref: string, body: Buffer, mediaType: string): Promise<string> {
    await this.request('PUT', `/v2/${repo}/manifests/${ref}`, { scope: `repository:${repo}:pull,push`, body, headers: { 'content-type': mediaType }, ok: [201] });
    return digestOf(body);
  }

  /** Locations may be absolute or relative to the endpoint; request() wants a path. */
  private absolute(loc: string | null): string {
    if (!loc) throw new RegistryError(502, `${this.registry}: upload without a Location`);
    const u = new URL(loc, this.endpoint);
    return `${u.pathname}${u.search}`;
  }
}

async function readAll(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function* chunked(s: Readable, size: number): AsyncGenerator<Buffer> {
  let buf = Buffer.alloc(0);
  for await (const c of s) {
    buf = Buffer.concat([buf, c as Buffer]);
    while (buf.length >= size) { yield buf.subarray(0, size); buf = buf.subarray(size); }
  }
  if (buf.length) yield buf;
}
