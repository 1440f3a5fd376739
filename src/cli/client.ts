// The berth CLI's side of the Docker Engine API: requests over the daemon's
// unix socket, raw (hijacked) streams for attach and exec, and starting
// berthd in the background when nothing answers, so no step is manual.
import { connect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { request, type Answer, type Response } from './http1.js';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_DATA_ROOT, DEFAULT_EXEC_ROOT, DEFAULT_SOCKET } from '../engine/index.js';
import { projectRoot } from '../util/project.js';
import { API_VERSION } from '../version.js';
import { fsx } from '../util/fsx.js';

export class DaemonError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

/** Where the daemon of a data root listens: the default socket for the default root, else one inside the root. */
export function socketOf(dataRoot: string): string {
  return resolve(dataRoot) === DEFAULT_DATA_ROOT ? DEFAULT_SOCKET : join(resolve(dataRoot), 'berthd.sock');
}

/** Where the daemon of a data root keeps its shims: the default for the default root, else a /run directory named by the root's hash. */
export function execRootOf(dataRoot: string): string {
  if (resolve(dataRoot) === DEFAULT_DATA_ROOT) return DEFAULT_EXEC_ROOT;
  // loaded here, not imported: a bundle evaluates its imports at start, and crypto costs ~3 ms
  const { createHash } = process.getBuiltinModule('node:crypto');
  return `/run/berth-${createHash('sha256').update(resolve(dataRoot)).digest('hex').slice(0, 12)}`;
}

export const canConnect = (socket: string) => new Promise<boolean>((res) => {
  const c = connect(socket, () => { c.destroy(); res(true); });
  c.on('error', () => res(false));
});

/** Whether a berthd holds the data root's lock (see Daemon.lockDataRoot). */
function dataRootHeld(dataRoot: string): boolean {
  const fd = openSync(join(dataRoot, 'berthd.lock'), 'a', 0o600);
  try { return !fsx().tryLock(fd); } finally { closeSync(fd); }
}

/** The socket is missing or nobody listens: no daemon runs there. */
const notServing = (e: unknown) => ['ENOENT', 'ECONNREFUSED'].includes((e as NodeJS.ErrnoException).code ?? '');

/** One request over the daemon's unix socket (see http1.ts), with the API version in the path. */
const exchange = (socket: string, method: string, path: string, headers: Record<string, string>, data?: Buffer | Readable, transient = false): Promise<Answer> =>
  request(socket, method, `/v${API_VERSION}${path}`, headers, data, transient);

/** The JSON objects of a streamed answer with one per line (events, stats), as they arrive. */
export async function* jsonLines<T>(res: AsyncIterable<unknown>): AsyncGenerator<T> {
  let buf = '';
  for await (const chunk of res) {
    buf += (chunk as Buffer).toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line) yield JSON.parse(line) as T;
    }
  }
}

export class ApiClient {
  private started: Promise<void> | undefined;

  /** `autostart`: the data root whose berthd this client starts when none answers. */
  constructor(readonly socket: string, private readonly autostart?: string) {}

  /** Starts berthd for this data root and waits until it answers. */
  private start(): Promise<void> {
    return (this.started ??= (async () => {
      const dataRoot = this.autostart!;
      const execRoot = execRootOf(dataRoot); // hashed only here: a CLI that finds berthd running never loads crypto
      mkdirSync(dataRoot, { recursive: true });
      const log = openSync(join(dataRoot, 'berthd.log'), 'a');
      // posix_spawn, in its own session, with stdio only: nothing else the CLI
      // inherited (a pipe of the shell's) stays open in a long-lived daemon
      const berthd = join(projectRoot(), 'bin', 'berthd');
      let pid: number;
      try { pid = fsx().spawn(berthd, [berthd, '--data-root', dataRoot, '--exec-root', execRoot, '-H', `unix://${this.socket}`], [-1, log, log]); } finally { closeSync(log); }
      let ended = false;
      for (let i = 0; i < 1000; i++) {
        if (await canConnect(this.socket)) return;
        // ours quits when another CLI's berthd took the data root first: wait for that one
        ended ||= fsx().reap(pid);
        if (ended && !dataRootHeld(dataRoot)) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`berthd did not start (see ${join(dataRoot, 'berthd.log')})`);
    })());
  }

  /** Sends a request; when no daemon serves the socket (so nothing was sent), starts one and sends it again. */
  private async send(method: string, path: string, headers: Record<string, string>, data?: Buffer | Readable, transient = false): Promise<Answer> {
    try {
      return await exchange(this.socket, method, path, headers, data, transient);
    } catch (e) {
      if (!notServing(e)) throw e;
      if (!this.autostart) throw new Error(`cannot connect to the berth daemon at unix://${this.socket}: is berthd running?`);
      await this.start();
      return exchange(this.socket, method, path, headers, data, transient);
    }
  }

  async raw(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const data = body === undefined ? undefined : Buffer.from(typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));
    return (await this.send(method, path, { ...(data ? { 'content-type': 'application/json', 'content-length': String(data.length) } : {}), ...headers }, data)).res;
  }

  /** A streamed answer (logs, export, archive); a 4xx/5xx becomes a DaemonError with docker's message. */
  async stream(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const res = await this.raw(method, path, body, headers);
    if (res.statusCode < 400) return res;
    throw await daemonError(res);
  }

  /** Streams `body` (a tar) as the request's body; a 4xx/5xx becomes a DaemonError. */
  async upload(method: string, path: string, body: Readable): Promise<void> {
    const { res } = await this.send(method, path, { 'content-type': 'application/x-tar' }, body);
    if (res.statusCode >= 400) throw await daemonError(res);
    res.resume();
  }

  /** Streams `body` (a tar) as the request's body and gives the streamed answer; a 4xx/5xx becomes a DaemonError. */
  async uploadStream(method: string, path: string, body: Readable, headers: Record<string, string> = {}): Promise<Response> {
    const { res } = await this.send(method, path, { 'content-type': 'application/x-tar', ...headers }, body);
    if (res.statusCode >= 400) throw await daemonError(res);
    return res;
  }

  /** A request whose answer is JSON (or nothing). */
  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const text = await readText(await this.stream(method, path, body));
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /**
   * Takes over the connection after "101 UPGRADED" (attach, exec start).
   * `transient`: no stdin goes to it. Its 'data' chunks are valid only while
   * the listeners run (see http1.ts), for a reader that writes them out
   * synchronously. berthd is also asked to have the shim write the output
   * to this process's own stdout and stderr, without frames or a copy
   * through either process (see engine/shim.ts clientOutput); it declines
   * for a tty, and output then comes framed on the connection.
   */
  async hijack(method: string, path: string, body?: unknown, transient = false): Promise<Socket> {
    const data = body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { connection: 'Upgrade', upgrade: 'tcp', 'content-type': 'application/json', 'content-length': String(data.length) };
    if (transient) headers['x-berth-output'] = `direct; pid=${process.pid}`;
    const a = await this.send(method, path, headers, data, transient);
    if (a.upgraded) {
      if (a.upgraded.head.length) a.upgraded.socket.unshift(a.upgraded.head);
      return a.upgraded.socket;
    }
    throw await daemonError(a.res);
  }
}

/** The daemon's refusal: docker's {"message": ...} (or plain text) and its status. */
async function daemonError(res: Response): Promise<DaemonError> {
  let msg = await readText(res);
  try { msg = (JSON.parse(msg) as { message: string }).message; } catch { /* plain text */ }
  return new DaemonError(res.statusCode, msg);
}

async function readText(res: Response): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

export function clientFor(dataRoot: string, host?: string): ApiClient {
  if (host) {
    if (!host.startsWith('unix://')) throw new Error(`--host: only unix:// sockets (got ${host})`);
    return new ApiClient(host.slice(7));
  }
  const socket = socketOf(dataRoot);
  mkdirSync(dirname(socket), { recursive: true });
  return new ApiClient(socket, resolve(dataRoot));
}
