// save, load and import, judged by docker (a private dockerd) and skopeo:
// a berth save loads in docker and reads through skopeo's docker-archive and
// oci-archive transports; a docker save loads in berth with the same layers.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, mkdirSync, chmodSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync, execFileSync } from 'node:child_process';
import { PREFIX, REPO } from './helpers/env.js';
import { makeRootfs } from './helpers/make-bundle.js';
import { tarOf, skopeo } from './helpers/oci-image.js';
import { PrivateDockerd } from './helpers/dockerd.js';
import { ImageStore } from '../src/image/store.js';
import { mountAll } from '../src/image/snapshots.js';

const work = mkdtempSync(join(tmpdir(), `${PREFIX}-archive-`));
chmodSync(work, 0o755);
const BERTH = join(REPO, 'bin', 'berth');
const root = join(work, 'berth');
function berth(args: string[], input?: Buffer | string) {
  const r = spawnSync(BERTH, ['--data-root', root, ...args], { input, encoding: 'utf8', maxBuffer: 1 << 28, timeout: 120000 });
  return { out: r.stdout, err: r.stderr, code: r.status };
}

describe('save, load and import', () => {
  const d = new PrivateDockerd();
  let rootfsTar: Buffer;
  before(async () => {
    makeRootfs(join(work, 'rootfs'));
    writeFileSync(join(work, 'rootfs', 'etc', 'marker'), 'berth-archive-test\n');
    rootfsTar = tarOf(join(work, 'rootfs'));
    await d.start();
  });
  after(async () => { await d.stop(); rmSync(work, { recursive: true, force: true }); });

  test('import a rootfs with --change; bad changes are named', () => {
    const r = berth(['import', '-c', 'CMD ["cat", "/etc/marker"]', '-c', 'ENV GREETING="hello there"', '-c', 'WORKDIR /tmp', '-', 'berth-test/imported:v1'], rootfsTar);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^sha256:[0-9a-f]{64}\n$/);
    const cfg = JSON.parse(berth(['image', 'inspect', '-f', '{{json .Config}}', 'berth-test/imported:v1']).out);
    // dockerd's full shape: the fields not set are zero
    const set = Object.fromEntries(Object.entries(cfg as Record<string, unknown>).filter(([, v]) => v !== null && v !== '' && v !== false));
    assert.deepEqual(set, { Cmd: ['cat', '/etc/marker'], Env: ['GREETING=hello there'], WorkingDir: '/tmp' });
    const bad = berth(['import', '-c', 'FROB x', '-', 'x:y'], rootfsTar);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /--change: "FROB x": expected one of CMD/);
    const empty = berth(['import', '-', 'x:y'], '');
    assert.match(empty.err, /the input is empty/);
  });

  test('berth save loads in docker, runs there, and reads through skopeo both ways', () => {
    const file = join(work, 'berth-save.tar');
    const s = berth(['save', '-o', file, 'berth-test/imported:v1']);
    assert.equal(s.code, 0, s.err);
    const load = d.docker(['load', '-i', file]);
    assert.equal(load.code, 0, load.err);
    assert.match(load.out, /Loaded image: berth-test\/imported:v1/);
    const mine = JSON.parse(berth(['image', 'inspect', 'berth-test/imported:v1']).out)[0];
    const theirs = JSON.parse(d.docker(['image', 'inspect', 'berth-test/imported:v1']).out)[0];
    assert.deepEqual(theirs.RootFS.Layers, mine.RootFS.Layers);
    assert.equal(theirs.Id, mine.Id, 'same config, same image ID');
    const run = d.docker(['run', '--rm', '--network', 'none', 'berth-test/imported:v1']);
    assert.equal(run.out, 'berth-archive-test\n', run.err);
    for (const transport of ['docker-archive', 'oci-archive']) {
      const sk = JSON.parse(skopeo(['inspect', `${transport}:${file}`]));
      assert.equal(sk.Layers.length, 1, transport);
    }
  });

  test('docker save loads in berth with the same layers and content', () => {
    const imp = spawnSync(d.bin, ['-H', `unix://${d.sock}`, 'import', '-', 'from-docker:v2'], { input: rootfsTar, encoding: 'utf8' });
    assert.equal(imp.status, 0, imp.stderr);
    const tar = spawnSync(d.bin, ['-H', `unix://${d.sock}`, 'save', 'from-docker:v2'], { maxBuffer: 1 << 28 }).stdout;
    assert.ok(tar.length > 1000);
    const r = spawnSync(BERTH, ['--data-root', root, 'load'], { input: tar, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'Loaded image: from-docker:v2\n');
    const theirs = JSON.parse(d.docker(['image', 'inspect', 'from-docker:v2']).out)[0];
    const mine = JSON.parse(berth(['image', 'inspect', 'from-docker:v2']).out)[0];
    assert.deepEqual(mine.RootFS.Layers, theirs.RootFS.Layers);
    assert.equal(mine.Id, theirs.Id);
    const layers = join(root, 'image', 'snapshots', 'layers');
    assert.ok(readdirSync(layers).some((l) => existsSync(join(layers, l, 'etc', 'marker'))), 'the layer is unpacked');
  });

  test('an OCI layout written by umoci (two layers, a deletion) loads, and its root shows both layers', async () => {
    const u = join(work, 'umoci');
    mkdirSync(u);
    const um = (args: string[]) => { const r = spawnSync('umoci', args, { cwd: u, encoding: 'utf8' }); assert.equal(r.status, 0, `umoci ${args.join(' ')}: ${r.stderr}`); };
    um(['init', '--layout', 'lay']);
    um(['new', '--image', 'lay:v1']);
    um(['unpack', '--image', 'lay:v1', 'b']);
    mkdirSync(join(u, 'b', 'rootfs', 'etc'), { recursive: true });
    writeFileSync(join(u, 'b', 'rootfs', 'etc', 'one'), 'one\n');
    writeFileSync(join(u, 'b', 'rootfs', 'etc', 'two'), 'two\n');
    um(['repack', '--image', 'lay:v1', 'b']);
    rmSync(join(u, 'b'), { recursive: true });
    um(['unpack', '--image', 'lay:v1', 'b']);
    rmSync(join(u, 'b', 'rootfs', 'etc', 'one'));
    writeFileSync(join(u, 'b', 'rootfs', 'etc', 'three'), 'three\n');
    um(['repack', '--image', 'lay:v1', 'b']);
    const r = spawnSync(BERTH, ['--data-root', root, 'load'], { input: execFileSync('tar', ['-C', join(u, 'lay'), '-cf', '-', '.']), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Loaded image ID: sha256:[0-9a-f]{64}\n$/, 'a bare tag in ref.name names nothing');
    const store = new ImageStore(join(root, 'image'));
    const img = store.list().find((i) => i.manifest === JSON.parse(readFileSync(join(u, 'lay', 'index.json'), 'utf8')).manifests[0].digest)!;
    assert.ok(img, 'the image is in the store under umoci\'s manifest digest');
    const target = join(work, 'umoci-root');
    mkdirSync(target);
    mountAll(await store.prepareRoot('umoci-check', img), target);
    try {
      assert.deepEqual(readdirSync(join(target, 'etc')).sort(), ['three', 'two']);
    } finally {
      spawnSync('umount', [target]);
      store.snapshots.release('umoci-check');
    }
    // the read-only view shows the same, and refuses writes
    const view = join(work, 'umoci-view');
    mkdirSync(view);
    mountAll(store.snapshots.view('umoci-view', img.chainID!), view);
    try {
      assert.deepEqual(readdirSync(join(view, 'etc')).sort(), ['three', 'two']);
      assert.throws(() => writeFileSync(join(view, 'etc', 'four'), 'x'), /EROFS/);
    } finally {
      spawnSync('umount', [view]);
      store.snapshots.release('umoci-view');
    }
  });

  test('a damaged or incomplete archive is refused and leaves no image', () => {
    const file = join(work, 'berth-save.tar');
    const x = join(work, 'damaged');
    mkdirSync(x);
    execFileSync('tar', ['-C', x, '-xf', file]);
    const manifest = JSON.parse(readFileSync(join(x, 'manifest.json'), 'utf8'));
    const layer = join(x, manifest[0].Layers[0]);
    const data = readFileSync(layer);
    data[data.length - 2000] ^= 0xff;
    writeFileSync(layer, data);
    const before = berth(['images', '-q', '--no-trunc']).out;
    const bad = spawnSync(BERTH, ['--data-root', root, 'load'], { input: execFileSync('tar', ['-C', x, '-cf', '-', '.'], { maxBuffer: 1 << 28 }), encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /layer 0|unexpected end|invalid|incorrect|header/);
    rmSync(join(x, 'manifest.json'));
    rmSync(join(x, 'index.json'));
    const none = spawnSync(BERTH, ['--data-root', root, 'load'], { input: execFileSync('tar', ['-C', x, '-cf', '-', '.'], { maxBuffer: 1 << 28 }), encoding: 'utf8' });
    assert.match(none.stderr, /has neither manifest\.json \(docker save\), index\.json \(OCI layout\) nor repositories \(the old docker save\)/);
    assert.equal(berth(['images', '-q', '--no-trunc']).out, before);
    assert.deepEqual(readdirSync(join(root, 'image')).filter((e) => e.startsWith('load-')), [], 'no unpack dir left');
  });
});
