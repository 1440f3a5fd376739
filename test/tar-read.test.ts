// The layer unpacker's tar reader reads what tar-stream's extract reads:
// the same headers (long names, pax records, binary xattrs) and the same
// content, however the bytes are cut into chunks; tars written by GNU tar in
// its gnu, pax and ustar formats; and it refuses what tar-stream refuses.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, symlinkSync, linkSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type tar from 'tar-stream';
import { tarStream } from '../src/image/layer/tar-pax.js';
import { TarReader } from '../src/image/layer/tar-read.js';
import { PREFIX } from './helpers/env.js';

const work = mkdtempSync(join(tmpdir(), `${PREFIX}-tar-read-`));
after(() => rmSync(work, { recursive: true, force: true }));

interface Seen { header: Omit<tar.Header, 'byteOffset'>; body: string }

/** What tar-stream's extract makes of `tar`. */
async function byTarStream(tarBytes: Buffer): Promise<Seen[]> {
  const out: Seen[] = [];
  const ex = tarStream().extract();
  ex.on('entry', (h, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => { chunks.push(c as Buffer); });
    stream.on('end', () => {
      const { byteOffset: _, ...header } = h as tar.Header & { byteOffset: number };
      out.push({ header, body: Buffer.concat(chunks).toString('latin1') });
      next();
    });
  });
  await pipeline(Readable.from([tarBytes]), ex as unknown as Writable);
  return out;
}

/** What the reader makes of `tar`, given in chunks of `cut` bytes (each a copy, so no slice reaches past its chunk). */
function byReader(tarBytes: Buffer, cut: number): Seen[] {
  const out: Seen[] = [];
  let body: Buffer[] = [];
  const flush = () => { if (out.length) out[out.length - 1]!.body = Buffer.concat(body).toString('latin1'); body = []; };
  const reader = new TarReader({
    entry: (h) => { flush(); const { byteOffset: _, ...header } = h as tar.Header & { byteOffset: number }; out.push({ header, body: '' }); return true; },
    data: (c) => { body.push(Buffer.from(c)); },
  });
  for (let at = 0; at < tarBytes.length; at += cut) reader.write(Buffer.from(tarBytes.subarray(at, at + cut)));
  reader.end();
  flush();
  return out;
}

type Entry = Partial<Omit<tar.Header, 'pax'>> & { name: string; body?: string | Buffer; pax?: Record<string, string> };
async function packed(entries: Entry[]): Promise<Buffer> {
  const pack = tarStream().pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => { chunks.push(c as Buffer); });
  const done = new Promise<void>((r) => pack.on('end', () => r()));
  for (const { body, ...h } of entries) await new Promise<void>((res, rej) => { pack.entry(h, body ?? '', (e) => (e ? rej(e) : res())); });
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

const CUTS = [1, 7, 511, 512, 513, 4096, 1 << 20];

async function sameAsTarStream(tarBytes: Buffer): Promise<number> {
  const want = await byTarStream(tarBytes);
  for (const cut of CUTS) assert.deepEqual(byReader(tarBytes, cut), want, `chunks of ${cut} bytes`);
  return want.length;
}

test('entries written by tar-stream: long names and links (pax), binary xattrs, every type and content size around a block', async () => {
  const long = `${'d'.repeat(120)}/${'f'.repeat(150)}`;
  const sizes = [0, 1, 511, 512, 513, 1024, 70_000];
  const tarBytes = await packed([
    { name: 'dir/', type: 'directory', mode: 0o755, mtime: new Date(1e12) },
    ...sizes.map((n, i) => ({ name: `dir/f${n}`, mode: 0o644, uid: i, gid: 2 * i, body: Buffer.alloc(n, i + 1), mtime: new Date(1e12 + i * 1000) })),
    { name: long, body: 'long name' },
    { name: 'sym', type: 'symlink', linkname: `/${'t'.repeat(200)}` },
    { name: 'hard', type: 'link', linkname: 'dir/f1' },
    { name: 'fifo', type: 'fifo', mode: 0o600 },
    { name: 'cap', body: 'x', pax: { 'SCHILY.xattr.security.capability': Buffer.from([1, 0, 0, 2, 0x80, 0xff, 0, 0]).toString('latin1'), 'SCHILY.xattr.user.note': 'héllo' } },
    { name: 'ünïcode-名前', body: 'utf-8 name' },
  ]);
  assert.equal(await sameAsTarStream(tarBytes), 14);
  const xattrs = byReader(tarBytes, 512).find((e) => e.header.name === 'cap')!.header.pax as Record<string, string>;
  assert.deepEqual([...Buffer.from(xattrs['SCHILY.xattr.security.capability']!, 'latin1')], [1, 0, 0, 2, 0x80, 0xff, 0, 0]);
});

test('tars written by GNU tar in gnu (././@LongLink), pax and ustar formats', async () => {
  const src = join(work, 'src');
  mkdirSync(join(src, 'a'.repeat(90), 'b'.repeat(90)), { recursive: true });
  writeFileSync(join(src, 'a'.repeat(90), 'b'.repeat(90), 'c'.repeat(60)), 'deep');
  writeFileSync(join(src, 'small'), 'x'.repeat(600));
  symlinkSync('l'.repeat(150), join(src, 'longlink'));
  linkSync(join(src, 'small'), join(src, 'hardlink'));
  for (const format of ['gnu', 'pax', 'ustar']) {
    const file = join(work, `${format}.tar`);
    const names = format === 'ustar' ? ['small', 'hardlink'] : ['.'];
    execFileSync('tar', ['--format', format, '-cf', file, '-C', src, ...names]);
    assert.ok(await sameAsTarStream(readFileSync(file)) >= 2, format);
  }
});

test('a damaged tar is refused as tar-stream refuses it: a bad checksum, a pax path with a NUL, a truncated entry', async () => {
  const good = await packed([{ name: 'a', body: 'x'.repeat(1000) }]);
  const badSum = Buffer.from(good);
  badSum[0] = 0x41;
  assert.throws(() => byReader(badSum, 512), /Invalid tar header/);
  const nul = await packed([{ name: 'a', body: 'x', pax: { path: 'a\0b' } }]);
  assert.throws(() => byReader(nul, 512), /pax path contains a null byte/);
  assert.throws(() => byReader(good.subarray(0, 700), 512), /Unexpected end of data/);
  // a visitor's error stops the read where it came
  const reader = new TarReader({ entry: () => { throw new Error('refused here'); }, data: () => {} });
  assert.throws(() => reader.write(good), /refused here/);
});

test('content the visitor does not want is passed over, and the next header is still found', async () => {
  const tarBytes = await packed([{ name: 'skip-me', body: 'y'.repeat(3000) }, { name: 'keep', body: 'kept' }]);
  const got: string[] = [];
  const reader = new TarReader({ entry: (h) => { got.push(h.name); return h.name === 'keep'; }, data: (c) => { got.push(c.toString()); } });
  for (let at = 0; at < tarBytes.length; at += 100) reader.write(tarBytes.subarray(at, at + 100));
  reader.end();
  assert.deepEqual(got, ['skip-me', 'keep', 'kept']);
});
