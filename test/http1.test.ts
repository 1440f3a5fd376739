// The CLI's HTTP/1.1 client against a unix-socket server that answers byte
// by byte, so every framing is read across many small reads: chunked (with
// extensions and trailers), Content-Length, close-delimited, no body, an
// upgrade with bytes after its headers, and answers that break off.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { request } from '../src/cli/http1.js';
import { PREFIX } from './helpers/env.js';

const dir = mkdtempSync(join(tmpdir(), `${PREFIX}-http1-`));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Serves one connection: collects the request until `complete` says so, then sends `answer` a byte at a time. */
async function serve(answer: string, complete: (req: string) => boolean = (r) => r.includes('\r\n\r\n'), thenEnd = true): Promise<{ path: string; request: Promise<string>; close(): void }> {
  const path = join(dir, `s${Math.random().toString(36).slice(2)}.sock`);
  let got: (s: string) => void;
  const request = new Promise<string>((r) => { got = r; });
  const server = createServer((c: Socket) => {
    let req = '';
    c.on('error', () => {}); // a client that has read enough may close early
    c.on('data', async (d) => {
      req += d.toString('latin1');
      if (!complete(req)) return;
      got(req);
      for (const ch of Buffer.from(answer, 'latin1')) { if (c.destroyed) return; c.write(Buffer.from([ch])); await new Promise((r) => setImmediate(r)); }
      if (thenEnd) c.end();
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  return { path, request, close: () => server.close() };
}

const text = async (r: Readable) => { let s = ''; for await (const c of r) s += (c as Buffer).toString(); return s; };

describe('the CLI HTTP client', () => {
  test('chunked answers, with extensions and trailers, read a byte at a time', async () => {
    const s = await serve('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\na\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n');
    const a = await request(s.path, 'GET', '/logs', {});
    assert.equal(a.res.statusCode, 200);
    assert.equal(a.res.headers['x-a'], '1, 2');
    assert.equal(await text(a.res), 'hello 0123456789');
    assert.match(await s.request, /^GET \/logs HTTP\/1\.1\r\nHost: localhost\r\nConnection: close\r\n/);
    s.close();
  });

  test('Content-Length, close-delimited and empty answers', async () => {
    let s = await serve('HTTP/1.1 404 Not Found\r\nContent-Length: 13\r\n\r\n{"message":1}trailing garbage');
    let a = await request(s.path, 'GET', '/x', {});
    assert.equal(a.res.statusCode, 404);
    assert.equal(await text(a.res), '{"message":1}');
    s.close();
    s = await serve('HTTP/1.0 200 OK\r\n\r\nuntil the end');
    assert.equal(await text((await request(s.path, 'GET', '/x', {})).res), 'until the end');
    s.close();
    s = await serve('HTTP/1.1 204 No Content\r\n\r\n', undefined, false);
    a = await request(s.path, 'POST', '/x', {});
    assert.equal(await text(a.res), '');
    assert.match(await s.request, /Content-Length: 0\r\n/);
    s.close();
  });

  test('bodies: a Buffer with its length, a stream chunked', async () => {
    let s = await serve('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', (r) => r.endsWith('{"a":1}'));
    await text((await request(s.path, 'POST', '/x', { 'content-type': 'application/json' }, Buffer.from('{"a":1}'))).res);
    assert.match(await s.request, /Content-Length: 7\r\n\r\n\{"a":1\}$/);
    s.close();
    s = await serve('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', (r) => r.endsWith('0\r\n\r\n'));
    await text((await request(s.path, 'PUT', '/x', {}, Readable.from([Buffer.from('abc'), Buffer.from('defgh')]))).res);
    assert.match(await s.request, /Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n5\r\ndefgh\r\n0\r\n\r\n$/);
    s.close();
  });

  test('an upgrade hands over the connection with what followed the headers', async () => {
    const s = await serve('HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\n\r\nraw stream bytes');
    const a = await request(s.path, 'POST', '/attach', { connection: 'Upgrade', upgrade: 'tcp' });
    assert.ok(a.upgraded);
    let got = a.upgraded.head.toString();
    await new Promise((r) => setTimeout(r, 50)); // nothing is lost before the caller listens
    for await (const c of a.upgraded.socket) got += (c as Buffer).toString();
    assert.equal(got, 'raw stream bytes');
    assert.doesNotMatch(await s.request, /Connection: close/);
    s.close();
  });

  test('broken answers are errors that say what broke', async () => {
    let s = await serve('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort');
    await assert.rejects(text((await request(s.path, 'GET', '/x', {})).res), /in the middle of an answer|connection to the daemon was lost/);
    s.close();
    s = await serve('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
    await assert.rejects(text((await request(s.path, 'GET', '/x', {})).res), /bad chunk size: "zz"/);
    s.close();
    s = await serve('SSH-2.0-nope\r\n\r\n');
    await assert.rejects(request(s.path, 'GET', '/x', {}), /no HTTP answer: "SSH-2.0-nope"/);
    s.close();
    s = await serve('');
    await assert.rejects(request(s.path, 'GET', '/x', {}), /closed the connection without an answer/);
    s.close();
    await assert.rejects(request(join(dir, 'nobody.sock'), 'GET', '/x', {}), { code: 'ENOENT' });
  });
});
