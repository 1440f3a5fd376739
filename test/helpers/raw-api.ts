// Raw Engine API calls for tests that need bytes (tar bodies, streams),
// connections kept alive, and connections cut at a chosen moment.
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import tar from 'tar-stream';

export interface RawAnswer { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

export class RawApi {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 4 });
  constructor(private readonly sock: string) {}

  call(method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<RawAnswer> {
    return new Promise((res, rej) => {
      const r = request({ socketPath: this.sock, agent: this.agent, method, path, headers }, (m) => {
        const parts: Buffer[] = [];
        m.on('data', (d: Buffer) => parts.push(d));
        m.on('end', () => res({ status: m.statusCode ?? 0, headers: m.headers, body: Buffer.concat(parts) }));
        m.on('error', rej);
      });
      // a kept-alive connection the server closed as it was reused (its idle timeout): Node's advice is to ask again
      r.on('error', (e: NodeJS.ErrnoException) => {
        if (r.reusedSocket && ['ECONNRESET', 'EPIPE'].includes(e.code ?? '')) this.call(method, path, body, headers).then(res, rej);
        else rej(e);
      });
      r.end(body);
    });
  }

  async ping(): Promise<boolean> {
    try { return (await this.call('GET', '/_ping')).status === 200; } catch { return false; }
  }

  /**
   * Sends `head` (a request's head and maybe part of its body) on a new
   * connection, reads up to `readBytes` of the answer (or waits `waitMs`), then cuts the connection.
   */
  cut(head: string | Buffer, readBytes: number, waitMs = 300): Promise<number> {
    return new Promise((res) => {
      const s = connect(this.sock);
      let got = 0;
      const done = () => { clearTimeout(timer); s.destroy(); res(got); };
      const timer = setTimeout(done, waitMs);
      s.on('connect', () => s.write(head));
      s.on('data', (d: Buffer) => { got += d.length; if (got >= readBytes) done(); });
      s.on('error', done);
      s.on('close', done);
    });
  }

  close(): void { this.agent.destroy(); }
}

/** A tar of the given files (name → content), as a client would send it. */
export function tarOf(files: Record<string, string | Buffer>): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, content] of Object.entries(files)) pack.entry({ name, mode: 0o644, mtime: new Date(0) }, typeof content === 'string' ? Buffer.from(content) : content);
  pack.finalize();
  const parts: Buffer[] = [];
  return new Promise((res, rej) => {
    pack.on('data', (d: unknown) => parts.push(d as Buffer));
    pack.on('end', () => res(Buffer.concat(parts)));
    pack.on('error', rej);
  });
}

/** The files of a tar (name → content), for checking what an archive held. */
export function filesOf(archive: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const ex = tar.extract();
  return new Promise((res, rej) => {
    ex.on('entry', (h, stream, next) => {
      const parts: Buffer[] = [];
      stream.on('data', (d: unknown) => parts.push(d as Buffer));
      stream.on('end', () => { if (h.type === 'file') out.set(h.name, Buffer.concat(parts)); next(); });
    });
    ex.on('finish', () => res(out));
    ex.on('error', rej);
    ex.end(archive);
  });
}
