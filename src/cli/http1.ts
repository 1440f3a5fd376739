// The CLI's HTTP/1.1 client for the Docker Engine API on a unix socket.
// node:http would do, but a CLI start pays for it: loading it and compiling
// its client paths on the first request cost ~6 ms, a tenth of `berth exec`.
// This speaks the part the API uses: one request per connection, bodies by
// Content-Length or chunked, answers by Content-Length, chunked or close,
// and "101 UPGRADED" for attach and exec.
import { connect, type Socket } from 'node:net';
import { PassThrough, Readable } from 'node:stream';

export type Headers = Record<string, string>;

/** An answer: its body is this stream. */
export interface Response extends PassThrough {
  statusCode: number;
  headers: Headers;
}

export interface Answer {
  res: Response;
  /** the raw connection after "101 UPGRADED", with what came after the headers */
  upgraded?: { socket: Socket; head: Buffer };
}

const MAX_HEAD = 64 * 1024;

const transientSockets = new WeakSet<Socket>();
/** Whether an upgraded connection's 'data' chunks are transient (see `request`). */
export const isTransient = (s: Socket): boolean => transientSockets.has(s);

/**
 * Sends one request on a new connection to `socketPath`; resolves when the
 * answer's headers are in. With `transient`, an upgraded connection reads
 * into one reused 1 MiB buffer: each 'data' chunk is valid only while its
 * listeners run, so they must be done with it (write it synchronously).
 * A 64 KiB allocation per read was most of the CLI's cost on large output.
 */
export function request(socketPath: string, method: string, path: string, headers: Headers, body?: Buffer | Readable, transient = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let upgraded = false;
    const socket = transient
      ? connect({ path: socketPath, onread: { buffer: Buffer.allocUnsafe(1 << 20), callback: (n: number, buf: Buffer): boolean => {
        const d = buf.subarray(0, n);
        if (upgraded) return socket.emit('data', d) || true;
        onData(Buffer.from(d));
        return !upgraded; // stop at the upgrade: the caller resumes when it listens
      } } })
      : connect(socketPath);
    if (transient) transientSockets.add(socket);
    const streamed = body instanceof Readable;
    const lines = [`${method} ${path} HTTP/1.1`, 'Host: localhost'];
    const has = (name: string) => Object.keys(headers).some((k) => k.toLowerCase() === name);
    // "close" lets the daemon end the connection as soon as it answered. Not
    // with a streamed body: one refused early (cp to a missing directory)
    // would be cut off unread, and the reset loses the answer; kept alive,
    // the daemon reads the rest of the body away first.
    if (!has('upgrade') && !streamed) lines.push('Connection: close');
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    if (streamed) lines.push('Transfer-Encoding: chunked');
    else if ((body || ['POST', 'PUT'].includes(method)) && !has('content-length')) lines.push(`Content-Length: ${body?.length ?? 0}`);
    let settled = false;
    const fail = (e: Error) => { if (!settled) { settled = true; reject(e); } else res?.destroy(e); };
    socket.once('error', fail);
    socket.once('connect', () => {
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (streamed) {
        body.on('data', (d: Buffer) => {
          if (!d.length) return;
          socket.write(`${d.length.toString(16)}\r\n`);
          socket.write(d);
          if (!socket.write('\r\n')) { body.pause(); socket.once('drain', () => body.resume()); }
        });
        body.once('end', () => socket.write('0\r\n\r\n'));
        body.once('error', (e) => { socket.destroy(); fail(e); });
      } else if (body?.length) socket.write(body);
    });

    let head: Buffer = Buffer.alloc(0);
    let res: Response | undefined;
    let feed: ((d: Buffer) => void) | undefined;
    const onData = (d: Buffer) => {
      if (feed) { feed(d); return; }
      head = head.length ? Buffer.concat([head, d]) : d;
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_HEAD) { socket.destroy(); fail(new Error('the daemon sent an oversized header')); }
        return;
      }
      const [status, ...fields] = head.subarray(0, end).toString('latin1').split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(status ?? '');
      if (!m) { socket.destroy(); fail(new Error(`the daemon sent no HTTP answer: ${JSON.stringify(status)}`)); return; }
      const hs: Headers = {};
      for (const f of fields) {
        const i = f.indexOf(':');
        if (i <= 0) continue;
        const k = f.slice(0, i).trim().toLowerCase(), v = f.slice(i + 1).trim();
        hs[k] = hs[k] === undefined ? v : `${hs[k]}, ${v}`;
      }
      const rest = head.subarray(end + 4);
      res = Object.assign(new PassThrough(), { statusCode: Number(m[1]), headers: hs });
      settled = true;
      if (res.statusCode === 101) {
        upgraded = true;
        if (!transient) socket.off('data', onData);
        // what follows is the caller's: held until it listens (as node:http hands over an upgrade)
        socket.pause();
        (socket as { readableFlowing: boolean | null }).readableFlowing = null;
        socket.off('error', fail);
        res.end();
        resolve({ res, upgraded: { socket, head: rest } });
        return;
      }
      feed = bodyReader(res, socket, method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304 ? 0 : hs['transfer-encoding']?.includes('chunked') ? 'chunked' : hs['content-length'] !== undefined ? Number(hs['content-length']) : 'close');
      resolve({ res });
      if (rest.length) feed(rest);
    };
    if (!transient) socket.on('data', onData);
    socket.once('end', () => {
      if (!settled) fail(new Error('the daemon closed the connection without an answer'));
    });
  });
}

/** Feeds a response body into `res` by its framing; ends it (and the connection) when the body is complete. */
function bodyReader(res: Response, socket: Socket, framing: number | 'chunked' | 'close'): (d: Buffer) => void {
  let left = typeof framing === 'number' ? framing : 0;
  let done = false;
  const finish = () => { if (!done) { done = true; res.end(); socket.destroy(); } };
  const push = (d: Buffer) => { if (!res.write(d)) { socket.pause(); res.once('drain', () => socket.resume()); } };
  socket.once('end', () => { if (framing === 'close') finish(); else if (!done) res.destroy(new Error('the daemon closed the connection in the middle of an answer')); });
  socket.once('close', () => {
    if (done) return;
    if (framing === 'close') finish();
    else res.destroy(new Error('the connection to the daemon was lost'));
  });
  if (framing === 0) { queueMicrotask(finish); return () => {}; }
  if (typeof framing === 'number' || framing === 'close') {
    return (d) => {
      if (framing === 'close') { push(d); return; }
      const part = d.length > left ? d.subarray(0, left) : d;
      left -= part.length;
      push(part);
      if (left === 0) finish();
    };
  }
  // chunked: "SIZE[;ext]\r\n" DATA "\r\n" ... "0\r\n" [trailers] "\r\n"
  let state: 'size' | 'data' | 'crlf' | 'trailer' = 'size';
  let line = '';
  return (d) => {
    let i = 0;
    while (i < d.length && !done) {
      if (state === 'data') {
        const part = d.subarray(i, i + left);
        push(part);
        left -= part.length;
        i += part.length;
        if (left === 0) state = 'crlf';
        continue;
      }
      const nl = d.indexOf(10, i);
      line += d.subarray(i, nl < 0 ? d.length : nl).toString('latin1');
      if (nl < 0) return;
      i = nl + 1;
      const text = line.replace(/\r$/, '');
      line = '';
      if (state === 'crlf') { state = 'size'; continue; }
      if (state === 'trailer') { if (text === '') finish(); continue; }
      left = parseInt(text.split(';')[0]!, 16);
      if (Number.isNaN(left)) { res.destroy(new Error(`the daemon sent a bad chunk size: ${JSON.stringify(text)}`)); socket.destroy(); return; }
      state = left === 0 ? 'trailer' : 'data';
    }
  };
}
