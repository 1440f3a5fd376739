// A multi-layer Debian image (debootstrap minbase + files, hardlinks, xattrs,
// devices + whiteouts and an opaque dir) goes through a registry into berth's
// store, and a container runs on its overlay root with berth-runtime. The
// copy driver gives the same tree where overlay is not used.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync, readFileSync, linkSync, chmodSync, lstatSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { PREFIX, REPO, BERTH_RUNTIME, unmountUnder, removeCgroup } from './helpers/env.js';
import { addImage, writeIndex, tarOf, skopeo, startRegistry } from './helpers/oci-image.js';
import { ImageStore } from '../src/image/store.js';
import { mountAll } from '../src/image/snapshots.js';
import { fsx } from '../src/util/fsx.js';
import { defaultSpec } from '../src/runtime/spec-default.js';

const DEBIAN_TAR = '/var/cache/berth-test/debian-minbase.tar';
const work = mkdtempSync(join(tmpdir(), `${PREFIX}-imagerun-`));
chmodSync(work, 0o755);
const BERTH = join(REPO, 'bin', 'berth');
const cgroupParent = `/${PREFIX}-imagerun`;

describe('a Debian image from a registry, run by berth', () => {
  let ref = '';
  let reg: Awaited<ReturnType<typeof startRegistry>>;
  before(async () => {
    reg = await startRegistry(join(work, 'registry'));
    const l2 = join(work, 'l2'), l3 = join(work, 'l3');
    mkdirSync(join(l2, 'srv', 'many'), { recursive: true });
    for (let i = 0; i < 50; i++) writeFileSync(join(l2, 'srv', 'many', `f${i}`), `file ${i}\n`);
    linkSync(join(l2, 'srv', 'many', 'f20'), join(l2, 'srv', 'hardlink'));
    writeFileSync(join(l2, 'srv', 'capable'), '#!/bin/sh\n');
    chmodSync(join(l2, 'srv', 'capable'), 0o4755);
    fsx().lsetxattr(join(l2, 'srv', 'capable'), 'user.berth', Buffer.from('kept'));
    fsx().lsetxattr(join(l2, 'srv', 'capable'), 'user.bin', Buffer.from([0x80, 0xff, 0, 0xc3])); // GNU tar writes raw bytes
    mkdirSync(join(l3, 'usr', 'share', 'doc'), { recursive: true });
    writeFileSync(join(l3, 'usr', 'share', 'doc', '.wh..wh..opq'), '');
    writeFileSync(join(l3, 'usr', 'share', 'doc', 'only-this'), 'new\n');
    mkdirSync(join(l3, 'srv', 'many'), { recursive: true });
    for (let i = 0; i < 10; i++) writeFileSync(join(l3, 'srv', 'many', `.wh.f${i}`), '');
    const layout = join(work, 'layout');
    writeIndex(layout, 'v1', [addImage(layout, { layers: [readFileSync(DEBIAN_TAR), tarOf(l2), tarOf(l3)], env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], cmd: ['bash'] })], false);
    ref = `${reg.addr}/test/debian:layers`;
    skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${ref}`]);
  });
  after(async () => {
    await reg?.stop();
    unmountUnder(work);
    removeCgroup(cgroupParent);
    rmSync(work, { recursive: true, force: true });
  });

  for (const driver of ['overlay', 'copy'] as const) {
    test(`${driver}: the merged root has every layer's effect, and a container runs on it`, async () => {
      const root = join(work, `berth-${driver}`);
      const pulled = spawnSync(BERTH, ['--data-root', root, 'pull', '-q', ref], { encoding: 'utf8' });
      assert.equal(pulled.status, 0, pulled.stderr);
      const store = new ImageStore(join(root, 'image'), { driver });
      const img = store.resolve(ref);
      const bundle = join(work, `bundle-${driver}`);
      const rootfs = join(bundle, 'rootfs');
      mkdirSync(rootfs, { recursive: true });
      mountAll(await store.prepareRoot(`ctr-${driver}`, img), rootfs);
      try {
        // what the layers say, seen in the merged tree
        assert.deepEqual(readdirSync(join(rootfs, 'usr', 'share', 'doc')), ['only-this'], 'the opaque dir hides the lower docs');
        assert.ok(!existsSync(join(rootfs, 'srv', 'many', 'f0')) && existsSync(join(rootfs, 'srv', 'many', 'f10')), 'whiteouts remove files');
        assert.equal(lstatSync(join(rootfs, 'srv', 'hardlink')).ino, lstatSync(join(rootfs, 'srv', 'many', 'f20')).ino, 'hardlink kept');
        assert.equal(lstatSync(join(rootfs, 'srv', 'capable')).mode & 0o7777, 0o4755, 'setuid kept');
        assert.equal(fsx().lgetxattr(join(rootfs, 'srv', 'capable'), 'user.berth')?.toString(), 'kept', 'xattr kept');
        assert.deepEqual(fsx().lgetxattr(join(rootfs, 'srv', 'capable'), 'user.bin'), Buffer.from([0x80, 0xff, 0, 0xc3]), 'binary xattr kept');
        // and a container runs on it
        const cfg = store.config(img).config!;
        const spec = defaultSpec({ args: ['bash', '-c', 'echo $$; cat /etc/debian_version; ls /usr/share/doc; echo done > /tmp/written; cat /tmp/written'] }) as Record<string, any>;
        spec.process.env = cfg.Env;
        spec.root.readonly = false;
        spec.process.terminal = false;
        spec.linux.cgroupsPath = `${cgroupParent}/${driver}`;
        writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
        const r = spawnSync(BERTH_RUNTIME, ['--root', join(work, 'rt'), 'run', '-b', bundle, `${PREFIX}-img-${driver}`], { encoding: 'utf8', input: '' });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /^1\n12\.\d+\nonly-this\ndone\n$/);
      } finally {
        unmountUnder(rootfs);
      }
      // the container's write went to its own layer, not the image's
      const upper = store.snapshots.upperDir(`ctr-${driver}`);
      assert.equal(readFileSync(join(upper, 'tmp', 'written'), 'utf8'), 'done\n');
      assert.ok(!Object.values(store.snapshots.all()).some((l) => existsSync(join(store.snapshots.root, 'layers', l.id, 'tmp', 'written'))));
      // its changes as a layer: exactly what the container wrote (the copy driver compares with the image's layers)
      const chunks: Buffer[] = [];
      await store.diffRoot(`ctr-${driver}`, new Writable({ write(c, _e, cb) { chunks.push(c); cb(); } }));
      const names = spawnSync('tar', ['-t'], { input: Buffer.concat(chunks), encoding: 'utf8' }).stdout.trim().split('\n');
      assert.ok(names.includes('tmp/written'), names.join(' '));
      assert.ok(names.length <= 4, `only the container's changes: ${names.join(' ')}`);
      // rmi refuses an image a container stands on
      const rm = spawnSync(BERTH, ['--data-root', root, 'rmi', ref], { encoding: 'utf8' });
      assert.equal(rm.status, 1);
      assert.match(rm.stderr, /conflict: unable to remove repository reference ".*" \(must force\) - a container is using its referenced image/);
      store.snapshots.release(`ctr-${driver}`);
      assert.equal(spawnSync(BERTH, ['--data-root', root, 'rmi', ref]).status, 0);
    });
  }
});
