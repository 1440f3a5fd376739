// A GET over node:http(s) for blobs and manifests: the body is a Node
// stream as it comes off the socket. fetch's body is a web stream, and
// turning it back into a Node one cost a pull as much CPU as the download
// itself (53 MB: 650 ms of CPU against 260 ms). Redirects are followed as fetch follows them: the
// credentials go no further than the origin they were given for.
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';

const MAX_REDIRECTS = 20;
/** As long as undici waits for headers or for the next bytes of a body. */
const IDLE_TIMEOUT_MS = 300_000;

/** What RegistryClient reads of a reply: fetch's Response has it too. */
export interface Reply {
  status: number;
  ok: boolean;
  statusText: string;
  headers: { get(name: string): string | null };
  body: { cancel(): Promise<void> } | null;
  json(): Promise<unknown>;
}

export interface NodeReply extends Reply {
  body: Readable & { cancel(): Promise<void> };
}

function reply(res: IncomingMessage): NodeReply {
  const body = Object.assign(res, { cancel: async () => { res.destroy(); } });
  const status = res.statusCode ?? 0;
  return {
    status, ok: status >= 200 && status < 300, statusText: res.statusMessage ?? '',
    headers: { get: (name) => { const v = res.headers[name.toLowerCase()]; return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v; } },
    body,
    json: async () => {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      return JSON.parse(Buffer.concat(chunks).toString());
    },
  };
}

function once(url: URL, headers: Record<string, string>): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).get(url, { headers, timeout: IDLE_TIMEOUT_MS }, (res) => {
      res.setTimeout(IDLE_TIMEOUT_MS, () => res.destroy(new Error(`no data for ${IDLE_TIMEOUT_MS / 1000} s`)));
      resolve(res);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${IDLE_TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
  });
}

export async function httpGet(target: string, headers: Record<string, string>): Promise<NodeReply> {
  let url = new URL(target);
  const origin = url.origin;
  for (let hops = 0; ; hops++) {
    const res = await once(url, url.origin === origin ? headers : withoutCredentials(headers));
    const location = res.headers.location;
    if (![301, 302, 303, 307, 308].includes(res.statusCode ?? 0) || !location) return reply(res);
    res.resume();
    if (hops === MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects`);
    url = new URL(location, url);
  }
}

function withoutCredentials(headers: Record<string, string>): Record<string, string> {
  const out = { ...headers };
  delete out.authorization;
  return out;
}
