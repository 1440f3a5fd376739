// Layer unpacking into overlayfs's format, on the real filesystem: what a
// layer holds arrives intact, and a hostile layer touches nothing outside
// its directory.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, lstatSync, readFileSync, readlinkSync, readdirSync, existsSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { execFileSync, spawnSync } from 'node:child_process';
import type tar from 'tar-stream';
import { tarStream } from '../src/image/layer/tar-pax.js';
import { unpackLayer } from '../src/image/layer/unpack.js';
import { fsx } from '../src/util/fsx.js';
import { fileBytes } from '../src/image/snapshots.js';
import { PREFIX } from './helpers/env.js';

const work = mkdtempSync(join(tmpdir(), `${PREFIX}-layer-`));
after(() => rmSync(work, { recursive: true, force: true }));
let n = 0;

type Entry = Partial<Omit<tar.Header, 'pax'>> & { name: string; body?: string; pax?: Record<string, string> };
async function makeTar(entries: Entry[]): Promise<Buffer> {
  const pack = tarStream().pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => { chunks.push(c as Buffer); });
  const done = new Promise<void>((r) => { pack.on('end', () => r()); });
  for (const { body, ...h } of entries) {
    await new Promise<void>((res, rej) => { pack.entry(h, body ?? '', (e) => (e ? rej(e) : res())); });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const freshDir = () => { const d = join(work, `layer-${++n}`); mkdirSync(d); return d; };
const mtime = new Date('2020-01-02T03:04:05Z');

test('a layer arrives intact: modes, owners, links, devices, xattrs, mtimes, whiteouts', async () => {
  const t = await makeTar([
    { name: 'bin/', type: 'directory', mode: 0o755, mtime },
    { name: 'bin/tool', mode: 0o4755, uid: 1000, gid: 1001, mtime, body: '#!/bin/sh\necho hi\n', pax: { 'SCHILY.xattr.security.capability': Buffer.from([1, 0, 0, 2, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).toString('latin1'), 'SCHILY.xattr.user.note': 'kept', 'SCHILY.xattr.user.bin': Buffer.from([0x80, 0xff, 0, 0xc3]).toString('latin1') } },
    { name: 'bin/alias', type: 'symlink', linkname: 'tool', mtime },
    { name: 'bin/hard', type: 'link', linkname: 'bin/tool' },
    { name: 'dev/', type: 'directory', mode: 0o755 },
    { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'run/pipe', type: 'fifo', mode: 0o600 },
    { name: 'tmp/', type: 'directory', mode: 0o1777, mtime },
    { name: 'etc/.wh.gone', body: '' },
    { name: 'var/cache/.wh..wh..opq', body: '' },
  ]);
  const dest = freshDir();
  const r = await unpackLayer(Readable.from([t]), dest, 'none');
  assert.equal(r.diffID, sha(t));
  assert.equal(r.contentSize, fileBytes(dest), 'the layer size docker reports: files and symlinks, each inode once');
  assert.equal(r.digest, sha(t));
  const tool = lstatSync(join(dest, 'bin/tool'));
  assert.equal(tool.mode & 0o7777, 0o4755, 'setuid kept');
  assert.deepEqual([tool.uid, tool.gid], [1000, 1001]);
  assert.equal(tool.mtime.getTime(), mtime.getTime());
  assert.equal(readFileSync(join(dest, 'bin/tool'), 'utf8'), '#!/bin/sh\necho hi\n');
  assert.equal(readlinkSync(join(dest, 'bin/alias')), 'tool');
  assert.equal(lstatSync(join(dest, 'bin/hard')).ino, tool.ino, 'hardlink');
  assert.equal(fsx().lgetxattr(join(dest, 'bin/tool'), 'user.note')?.toString(), 'kept');
  assert.equal(fsx().lgetxattr(join(dest, 'bin/tool'), 'security.capability')?.length, 20);
  assert.deepEqual(fsx().lgetxattr(join(dest, 'bin/tool'), 'user.bin'), Buffer.from([0x80, 0xff, 0, 0xc3]), 'binary xattr bytes kept');
  const nul = lstatSync(join(dest, 'dev/null'));
  assert.ok(nul.isCharacterDevice() && nul.rdev === ((1 << 8) | 3));
  assert.ok(lstatSync(join(dest, 'run/pipe')).isFIFO());
  assert.equal(lstatSync(join(dest, 'tmp')).mode & 0o7777, 0o1777);
  assert.equal(lstatSync(join(dest, 'tmp')).mtime.getTime(), mtime.getTime(), 'directory mtimes set last');
  const wh = lstatSync(join(dest, 'etc/gone'));
  assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'whiteout is a 0/0 char device');
  assert.equal(fsx().lgetxattr(join(dest, 'var/cache'), 'trusted.overlay.opaque')?.toString(), 'y');

  // the same tar, gzip- and zstd-compressed: same diffID, blob digest of the compressed bytes
  const gz = gzipSync(t);
  const g = await unpackLayer(Readable.from([gz]), freshDir(), 'gzip');
  assert.deepEqual([g.diffID, g.digest, g.size], [sha(t), sha(gz), gz.length]);
  const zst = execFileSync('zstd', ['-q', '-c'], { input: t });
  const z = await unpackLayer(Readable.from([zst]), freshDir(), 'zstd', 'sha512');
  assert.equal(z.diffID, sha(t));
  assert.equal(z.digest, `sha512:${createHash('sha512').update(zst).digest('hex')}`);
});

test('overlayfs reads the unpacked layers: whiteouts hide, opaque dirs mask', async () => {
  const lower = freshDir(), upper = freshDir(), merged = freshDir(), wd = freshDir();
  await unpackLayer(Readable.from([await makeTar([
    { name: 'etc/gone', body: 'x' }, { name: 'etc/kept', body: 'k' }, { name: 'var/cache/old', body: 'o' },
  ])]), lower, 'none');
  const top = freshDir();
  await unpackLayer(Readable.from([await makeTar([
    { name: 'etc/.wh.gone', body: '' }, { name: 'var/cache/.wh..wh..opq', body: '' }, { name: 'var/cache/new', body: 'n' },
  ])]), top, 'none');
  const r = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${top}:${lower},upperdir=${upper},workdir=${wd}`, merged]);
  assert.equal(r.status, 0, r.stderr?.toString());
  try {
    assert.deepEqual(readdirSync(join(merged, 'etc')), ['kept']);
    assert.deepEqual(readdirSync(join(merged, 'var/cache')), ['new']);
  } finally {
    spawnSync('umount', [merged]);
  }
});

test('hostile layers: .. refused; absolute names, symlinks and hardlinks stay inside', async () => {
  const outside = join(work, `outside-${process.pid}`);
  mkdirSync(outside);
  writeFileSync(join(outside, 'sentinel'), 'untouched');
  const before = JSON.stringify(readdirSync(work).sort());
  const run = async (entries: Entry[]) => {
    const dest = freshDir();
    try { await unpackLayer(Readable.from([await makeTar(entries)]), dest, 'none'); return { dest }; } catch (e) { return { dest, error: (e as Error).message }; }
  };

  const dotdot = await run([{ name: '../escaped', body: 'x' }]);
  assert.match(dotdot.error ?? '', /layer entry "\.\.\/escaped": refers to "\.\."/);
  const deep = await run([{ name: 'a/../../escaped', body: 'x' }]);
  assert.match(deep.error ?? '', /refers to "\.\."/);

  const abs = await run([{ name: `${outside}/abs`, body: 'x' }]);
  assert.equal(abs.error, undefined);
  assert.ok(existsSync(join(abs.dest, outside, 'abs')), 'an absolute name lands inside the layer');

  // a symlink to the host's directory, then a write through it
  const viaLink = await run([{ name: 'link', type: 'symlink', linkname: outside }, { name: 'link/sentinel', body: 'overwritten' }, { name: 'up', type: 'symlink', linkname: '../../../..' }, { name: 'up/deep', body: 'x' }]);
  assert.equal(viaLink.error, undefined);
  assert.equal(readFileSync(join(viaLink.dest, outside, 'sentinel'), 'utf8'), 'overwritten', 'followed inside the layer root');
  assert.ok(existsSync(join(viaLink.dest, 'deep')), '.. through a symlink stops at the layer root');

  const hard = await run([{ name: 'h', type: 'link', linkname: `${outside}/sentinel` }]);
  assert.match(hard.error ?? '', /hardlink to ".*sentinel", which is not in this layer/);
  const hard2 = await run([{ name: 'h', type: 'link', linkname: '../sentinel' }]);
  assert.match(hard2.error ?? '', /refers to "\.\."/);

  const long = await run([{ name: `${'d/'.repeat(2100)}f`, body: 'x' }]);
  assert.match(long.error ?? '', /name is too long/);

  assert.equal(readFileSync(join(outside, 'sentinel'), 'utf8'), 'untouched');
  assert.deepEqual(readdirSync(outside), ['sentinel']);
  assert.equal(JSON.stringify(readdirSync(work).filter((e) => !e.startsWith('layer-')).sort()), JSON.stringify(JSON.parse(before).filter((e: string) => !e.startsWith('layer-'))));
  assert.ok(statSync(outside).isDirectory());
});

/** What a container does to its root: delete, replace a directory, add files, a hardlink, an xattr, a device. */
function containerChanges(root: string): void {
  rmSync(join(root, 'etc/gone'));
  rmSync(join(root, 'var/cache'), { recursive: true });
  mkdirSync(join(root, 'var/cache'));
  writeFileSync(join(root, 'var/cache/new'), 'n');
  mkdirSync(join(root, 'app'));
  writeFileSync(join(root, 'app/bin'), 'binary');
  execFileSync('ln', [join(root, 'app/bin'), join(root, 'app/bin2')]);
  fsx().lsetxattr(join(root, 'app/bin'), 'user.bin', Buffer.from([0x80, 0xff]));
  fsx().mknod(join(root, 'app/null'), 0o020666, 1, 3);
}

test('diff: an overlay upper dir becomes a layer tar with whiteouts, reproducibly, and unpacks back to the same tree', async () => {
  const lower = freshDir(), upper = freshDir(), wd = freshDir(), merged = freshDir();
  await unpackLayer(Readable.from([await makeTar([
    { name: 'etc/gone', body: 'x' }, { name: 'etc/kept', body: 'k' }, { name: 'var/cache/old', body: 'o' },
  ])]), lower, 'none');
  assert.equal(spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${wd}`, merged]).status, 0);
  try {
    containerChanges(merged);
  } finally {
    spawnSync('umount', [merged]);
  }
  const { diffLayer } = await import('../src/image/layer/diff.js');
  const collect = async () => {
    const chunks: Buffer[] = [];
    const sink = new (await import('node:stream')).Writable({ write(c, _e, cb) { chunks.push(c); cb(); } });
    await diffLayer(upper, sink);
    return { diffID: sha(Buffer.concat(chunks)), tar: Buffer.concat(chunks) };
  };
  const a = await collect(), b = await collect();
  assert.equal(a.diffID, b.diffID, 'the same tree gives the same digest');
  const names = execFileSync('tar', ['-t'], { input: a.tar, encoding: 'utf8' }).trim().split('\n');
  assert.ok(names.includes('etc/.wh.gone'), names.join(' '));
  assert.ok(names.includes('var/cache/.wh..wh..opq'), names.join(' '));
  // unpacked again (over the same lower) it gives the same picture
  const again = freshDir();
  const r = await unpackLayer(Readable.from([a.tar]), again, 'none');
  assert.equal(r.diffID, a.diffID);
  assert.ok(lstatSync(join(again, 'etc/gone')).isCharacterDevice());
  assert.equal(fsx().lgetxattr(join(again, 'var/cache'), 'trusted.overlay.opaque')?.toString(), 'y');
  assert.equal(lstatSync(join(again, 'app/bin2')).ino, lstatSync(join(again, 'app/bin')).ino);
  assert.deepEqual(fsx().lgetxattr(join(again, 'app/bin'), 'user.bin'), Buffer.from([0x80, 0xff]));
  assert.equal(lstatSync(join(again, 'app/null')).rdev, (1 << 8) | 3);

  // the copy driver: the same changes made in a full copy, diffed against the lower layer,
  // give a layer that stacks to the same tree
  const { copyMerged } = await import('../src/image/layer/merge.js');
  const copy = freshDir();
  copyMerged([lower], copy);
  containerChanges(copy);
  const chunks: Buffer[] = [];
  const sink = new (await import('node:stream')).Writable({ write(c, _e, cb) { chunks.push(c); cb(); } });
  await diffLayer(copy, sink, [lower]);
  const copyTar = Buffer.concat(chunks);
  const cnames = execFileSync('tar', ['-t'], { input: copyTar, encoding: 'utf8' }).trim().split('\n');
  assert.ok(cnames.includes('etc/.wh.gone') && cnames.includes('var/cache/.wh.old'), cnames.join(' '));
  assert.ok(!cnames.includes('etc/kept'), 'unchanged files are not in the diff');
  const fromCopy = freshDir();
  await unpackLayer(Readable.from([copyTar]), fromCopy, 'none');
  const tree = (layers: string[]) => {
    const m = freshDir();
    copyMerged(layers, m);
    return execFileSync('find', ['.', '-printf', '%p %y %m %s\n'], { cwd: m, encoding: 'utf8' }).split('\n').sort().join('\n');
  };
  assert.equal(tree([lower, fromCopy]), tree([lower, again]));
});

test('writeTarSync writes the bytes writeTar writes: long names (ustar prefix and pax), xattrs, links, hardlinks, empty and large files, mode 0 and a whiteout marker', async () => {
  const { writeTar, writeTarSync, walk, RootDir } = await import('../src/image/confined/index.js');
  const { openSync, closeSync, constants } = await import('node:fs');
  const { Writable } = await import('node:stream');
  const t = join(work, 'sync-tar');
  const deep = join(t, 'a'.repeat(60), 'b'.repeat(60));
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(deep, 'c'.repeat(90)), 'deep\n');
  writeFileSync(join(t, `${'x'.repeat(120)}.txt`), 'long name\n');
  writeFileSync(join(t, 'empty'), '');
  writeFileSync(join(t, 'big'), Buffer.alloc(3 * 1024 * 1024 + 7, 7));
  writeFileSync(join(t, 'odd'), 'x'.repeat(513));
  execFileSync('chmod', ['000', join(t, 'odd')]);
  execFileSync('ln', [join(t, 'empty'), join(t, 'hard')]);
  execFileSync('ln', ['-s', 'y'.repeat(130), join(t, 'longlink')]);
  execFileSync('ln', ['-s', 'empty', join(t, 'link')]);
  const x = openSync(join(t, 'big'), 'r');
  fsx().setxattrFd(x, 'user.note', Buffer.from([0xff, 0, 1]));
  closeSync(x);
  const root = RootDir.open(t);
  const rels = [...walk(root.fd)].map((e) => e.rel);
  root.close();
  const list = rels.map((rel) => { const fd = openSync(join(t, rel), fsx().O_PATH | constants.O_NOFOLLOW); return { kind: 'entry' as const, rel, st: lstatSync(join(t, rel)), fd }; });
  try {
    const items = [...list, { kind: 'marker' as const, rel: '.wh.gone' }];
    const streamed: Buffer[] = [];
    await writeTar(items, new Writable({ write(c, _e, cb) { streamed.push(Buffer.from(c)); cb(); } }));
    const direct: Buffer[] = [];
    writeTarSync(items, (c) => direct.push(Buffer.from(c)));
    assert.ok(Buffer.concat(direct).length > 3 * 1024 * 1024);
    assert.ok(Buffer.concat(direct).equals(Buffer.concat(streamed)), 'the same bytes');
    assert.match(execFileSync('tar', ['-tvf', '-'], { input: Buffer.concat(direct), encoding: 'utf8' }), /longlink -> y{130}/);
  } finally {
    for (const i of list) closeSync(i.fd);
  }
});

test('a name that comes again in one layer: the last entry wins, whatever was there (file, directory, symlink, device)', async () => {
  const dest = freshDir();
  const r = await unpackLayer(Readable.from([await makeTar([
    { name: 'a', body: 'first' }, { name: 'a', body: 'second', mode: 0o600 },
    { name: 'b', body: 'a file' }, { name: 'b/', type: 'directory', mode: 0o711 }, { name: 'b/inside', body: 'x' },
    { name: 'c/', type: 'directory' }, { name: 'c/deep', body: 'gone with c' }, { name: 'c', body: 'now a file' },
    { name: 'd', type: 'symlink', linkname: 'a' }, { name: 'd', body: 'not a link' },
    { name: 'e', body: 'plain' }, { name: 'e', type: 'symlink', linkname: 'b' }, { name: 'e/through', body: 'into b' },
    { name: 'f', type: 'fifo' }, { name: 'f', type: 'character-device', devmajor: 1, devminor: 3 },
    { name: 'g', body: 'target' }, { name: 'h', body: 'old' }, { name: 'h', type: 'link', linkname: 'g' },
  ])]), dest, 'none');
  assert.equal(readFileSync(join(dest, 'a'), 'utf8'), 'second');
  assert.equal(lstatSync(join(dest, 'a')).mode & 0o777, 0o600);
  assert.equal(lstatSync(join(dest, 'b')).mode & 0o777, 0o711);
  assert.equal(readFileSync(join(dest, 'b/inside'), 'utf8'), 'x');
  assert.equal(readFileSync(join(dest, 'c'), 'utf8'), 'now a file');
  assert.ok(lstatSync(join(dest, 'd')).isFile());
  assert.equal(readlinkSync(join(dest, 'e')), 'b');
  assert.equal(readFileSync(join(dest, 'b/through'), 'utf8'), 'into b', 'a path through the new symlink');
  assert.ok(lstatSync(join(dest, 'f')).isCharacterDevice());
  assert.equal(lstatSync(join(dest, 'h')).ino, lstatSync(join(dest, 'g')).ino);
  // docker's size of a layer (a walk of what is on disk: all but directories, each inode once), counted without the walk
  assert.equal(r.contentSize, fileBytes(dest));
});

test('gzip layers inflate on the thread pool: several members, output larger than one push, and damaged streams named', async () => {
  const t = await makeTar([{ name: 'a', body: 'first member' }, { name: 'zeros', body: '\0'.repeat(40 << 20) }, { name: 'b', body: 'second' }]);
  // two gzip members (as pigz and docker's own concatenations write): one stream to Go's reader, and to berth
  const cut = 1024;
  const two = Buffer.concat([gzipSync(t.subarray(0, cut)), gzipSync(t.subarray(cut))]);
  const dest = freshDir();
  // 40 MiB of zeros from a few KiB: more than one push's output blocks hold
  const r = await unpackLayer(Readable.from([two.subarray(0, 7), two.subarray(7)]), dest, 'gzip');
  assert.deepEqual([r.diffID, r.digest, r.size, r.unpackedSize], [sha(t), sha(two), two.length, t.length]);
  assert.equal(statSync(join(dest, 'zeros')).size, 40 << 20);
  assert.equal(readFileSync(join(dest, 'b'), 'utf8'), 'second');

  const gz = gzipSync(t);
  const fails = async (bytes: Buffer) => {
    const d = freshDir();
    const e = await unpackLayer(Readable.from([bytes]), d, 'gzip').then(() => undefined, (x: Error) => x);
    return e?.message ?? '';
  };
  assert.match(await fails(gz.subarray(0, gz.length - 100)), /gzip: unexpected end of file|unexpected end/);
  assert.match(await fails(Buffer.concat([gz, Buffer.from('not gzip at all')])), /gzip: incorrect header check|gzip: /);
  const flipped = Buffer.from(gz);
  flipped[200] ^= 0xff;
  assert.match(await fails(flipped), /gzip: |Unexpected end|invalid/i);
});

test('an entry the filesystem refuses fails the layer with that entry named, and nothing runs after it', async () => {
  // user.* xattrs are not allowed on symlinks: the op list stops at the symlink
  const t = await makeTar([
    { name: 'before', body: 'x' },
    { name: 'link', type: 'symlink', linkname: 'before', pax: { 'SCHILY.xattr.user.note': 'no' } },
    { name: 'after', body: 'y' },
  ]);
  const dest = freshDir();
  const e = await unpackLayer(Readable.from([t]), dest, 'none').then(() => undefined, (x: Error) => x);
  assert.match(e?.message ?? '', /layer entry "link": setxattr: Operation not permitted/);
  assert.ok(existsSync(join(dest, 'before')));
  assert.equal(existsSync(join(dest, 'after')), false, 'the ops after the failed one did not run');
});

test('a blob longer than its descriptor says fails the unpack with that reason, and the process goes on', async () => {
  const { ContentStore } = await import('../src/image/content.js');
  const root = freshDir();
  const store = new ContentStore(join(root, 'content'));
  mkdirSync(join(root, 'dest'));
  const ingest = store.ingest({ size: 10 });
  const blob = gzipSync(Buffer.alloc(10240));
  const e = await unpackLayer(Readable.from([blob.subarray(0, 20), blob.subarray(20)]), join(root, 'dest'), 'gzip', 'sha256', ingest).then(() => undefined, (x: Error) => x);
  assert.match(e?.message ?? '', /more than the 10 bytes its descriptor says/);
  ingest.abort();
  assert.deepEqual(readdirSync(join(root, 'content', 'ingest')), [], 'nothing of the blob is left');
});

test('a source that stops early (closed, or failing) fails the unpack with its reason, in every compression; a slow taker holds the source back and loses nothing', async () => {
  const files = Array.from({ length: 2500 }, (_, i) => ({ name: `d${i % 7}/f${i}`, body: `${i}`.repeat(1 + ((i * 997) % 300)) }));
  const t = await makeTar(files);
  const blobs = { none: t, gzip: gzipSync(t), zstd: execFileSync('zstd', ['-q', '-c'], { input: t }) } as const;
  for (const [compression, blob] of Object.entries(blobs) as [keyof typeof blobs, Buffer][]) {
    const half = blob.subarray(0, blob.length >> 1);
    const closed = new Readable({ read() { this.push(half); this.destroy(); } });
    const e1 = await unpackLayer(closed, freshDir(), compression).then(() => undefined, (x: Error) => x);
    assert.match(e1?.message ?? '', /Premature close/, compression);
    const failing = new Readable({ read() { this.push(half); this.destroy(new Error('connection reset')); } });
    const e2 = await unpackLayer(failing, freshDir(), compression).then(() => undefined, (x: Error) => x);
    assert.match(e2?.message ?? '', /connection reset/, compression);
    // all at once (more op lists than may be in flight: the source waits for them), and in 997-byte chunks, one per tick
    let at = 0;
    const trickle = new Readable({ read() { setImmediate(() => this.push(at < blob.length ? blob.subarray(at, (at += 997)) : null)); } });
    for (const source of [Readable.from([blob]), trickle]) {
      const dest = freshDir();
      const r = await unpackLayer(source, dest, compression);
      assert.equal(r.diffID, sha(t), compression);
      for (const f of files.filter((_, i) => i % 37 === 0)) assert.equal(readFileSync(join(dest, f.name), 'utf8'), f.body);
    }
  }
});
