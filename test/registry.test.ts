// Pull from Debian's docker-registry on loopback, with images skopeo pushed:
// multi-arch indexes, digests, auth, and every way a pull can go wrong.
// Failures a real registry will not produce on demand (429, 500, a stall,
// an oversized manifest) come from a small proxy in front of it.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, existsSync, readdirSync, mkdirSync, truncateSync, statSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import { randomBytes, createHash, createSign } from 'node:crypto';
import { PREFIX, REPO } from './helpers/env.js';
import { makeRootfs } from './helpers/make-bundle.js';
import { imageStoreIn } from '../src/engine/data-root.js';
import { addImage, writeIndex, tarOf, skopeo, startRegistry } from './helpers/oci-image.js';

const work = mkdtempSync(join(tmpdir(), `${PREFIX}-registry-`));
chmodSync(work, 0o755);
const BERTH = join(REPO, 'bin', 'berth');
after(() => rmSync(work, { recursive: true, force: true }));
let n = 0;

function berth(root: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(BERTH, ['--data-root', root, ...args], { encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: join(work, 'docker-config'), ...env }, timeout: 120000 });
  return { out: r.stdout, err: r.stderr, code: r.status };
}
/** For requests through the in-process proxy: spawnSync would block the proxy's event loop. */
function berthAsync(root: string, args: string[]): Promise<{ out: string; err: string; code: number | null }> {
  const c = spawn(BERTH, ['--data-root', root, ...args], { env: { ...process.env, DOCKER_CONFIG: join(work, 'docker-config') } });
  let out = '', err = '';
  c.stdout.on('data', (d) => { out += d; });
  c.stderr.on('data', (d) => { err += d; });
  return new Promise((r) => c.on('close', (code) => r({ out, err, code })));
}
const freshRoot = () => join(work, `root-${++n}`);

type Fault = (path: string, method: string) => 'pass' | 'hang' | number | { big: true };
/** Forwards to the registry; `fault` decides per request. */
async function proxy(target: string, fault: Fault): Promise<{ addr: string; server: Server }> {
  const server = createServer((req, res) => {
    const f = fault(req.url ?? '', req.method ?? 'GET');
    if (f === 'hang') { res.flushHeaders(); return; }
    if (typeof f === 'number') { res.writeHead(f, { 'content-type': 'application/json', 'retry-after': '0' }); res.end('{"errors":[{"code":"INJECTED","message":"from the test proxy"}]}'); return; }
    if (typeof f === 'object') { res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': String(5 << 20) }); res.end(Buffer.alloc(5 << 20, 32)); return; }
    const [host, port] = target.split(':');
    const up = request({ host, port: Number(port), path: req.url, method: req.method, headers: req.headers }, (r) => { res.writeHead(r.statusCode ?? 502, r.headers); r.pipe(res); });
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { addr: `127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

describe('pull from docker-registry', () => {
  let reg: Awaited<ReturnType<typeof startRegistry>>;
  let indexDigest = '';
  before(async () => {
    reg = await startRegistry(join(work, 'registry'));
    makeRootfs(join(work, 'rootfs'));
    mkdirSync(join(work, 'l2', 'etc'), { recursive: true });
    writeFileSync(join(work, 'l2', 'etc', 'hello'), 'from layer 2\n');
    writeFileSync(join(work, 'l2', 'big'), randomBytes(3 << 20)); // enough to stream in pieces
    const base = tarOf(join(work, 'rootfs')), top = tarOf(join(work, 'l2'));
    const lay = join(work, 'layout');
    const amd = addImage(lay, { layers: [base, top] });
    const arm = addImage(lay, { layers: [top], arch: 'arm64' });
    writeIndex(lay, 'multi', [amd, arm], true);
    skopeo(['copy', '--all', '--dest-tls-verify=false', `oci:${lay}:multi`, `docker://${reg.addr}/test/busybox:multi`]);
    indexDigest = JSON.parse(readFileSync(join(lay, 'index.json'), 'utf8')).manifests[0].digest;
  });
  after(async () => { await reg?.stop(); });

  test('a multi-arch index: linux/amd64 by default, layers unpacked, and the second pull downloads nothing', () => {
    const root = freshRoot();
    const r = berth(root, ['pull', `${reg.addr}/test/busybox:multi`]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`Digest: ${indexDigest}\\nStatus: Downloaded newer image for ${reg.addr}/test/busybox:multi\\n`));
    const inspect = JSON.parse(berth(root, ['image', 'inspect', `${reg.addr}/test/busybox:multi`]).out)[0];
    assert.equal(inspect.Architecture, 'amd64');
    assert.equal(inspect.RootFS.Layers.length, 2);
    assert.deepEqual(inspect.RepoDigests, [`${reg.addr}/test/busybox@${indexDigest}`]);
    // the layers are where overlay can stack them
    const layers = readdirSync(join(root, 'image', 'snapshots', 'layers'));
    assert.equal(layers.length, 2);
    const again = berth(root, ['pull', `${reg.addr}/test/busybox:multi`]);
    assert.match(again.out, /Already exists\n.*Already exists\n/s);
    assert.match(again.out, /Status: Image is up to date/);
  });

  test('--platform and pull by digest; an absent platform is named', () => {
    const root = freshRoot();
    const r = berth(root, ['pull', '--platform', 'linux/arm64', `${reg.addr}/test/busybox@${indexDigest}`]);
    assert.equal(r.code, 0, r.err);
    assert.equal(berth(root, ['image', 'inspect', '-f', '{{.Architecture}}', `${reg.addr}/test/busybox@${indexDigest}`]).out, 'arm64\n');
    const none = berth(root, ['pull', '--platform', 'linux/s390x', `${reg.addr}/test/busybox:multi`]);
    assert.equal(none.code, 1);
    assert.match(none.err, /no image for linux\/s390x \(the index has: linux\/amd64, linux\/arm64\)/);
  });

  test('what berth pulled reads the same through skopeo, and du agrees with the store\'s own count', () => {
    const root = freshRoot();
    berth(root, ['pull', `${reg.addr}/test/busybox:multi`]);
    const sk = JSON.parse(skopeo(['inspect', '--tls-verify=false', `docker://${reg.addr}/test/busybox:multi`]));
    const mine = JSON.parse(berth(root, ['image', 'inspect', `${reg.addr}/test/busybox:multi`]).out)[0];
    assert.deepEqual(mine.Layers, sk.Layers);
    const du = Number(execFileSync('du', ['-s', '--block-size=1', join(root, 'image')], { encoding: 'utf8' }).split('\t')[0]);
    assert.equal(imageStoreIn(root).usage(), du);
  });

  test('rmi frees exactly what nothing else uses; tag, images filters', () => {
    const root = freshRoot();
    berth(root, ['pull', `${reg.addr}/test/busybox:multi`]);
    berth(root, ['pull', '--platform', 'linux/arm64', `${reg.addr}/test/busybox:multi`]); // moves the tag; amd64 is left without a name
    assert.match(berth(root, ['images', '--filter', 'dangling=true', '-q']).out, /^[0-9a-f]{12}\n$/);
    assert.equal(berth(root, ['tag', `${reg.addr}/test/busybox:multi`, 'mine:1']).code, 0);
    assert.match(berth(root, ['images', '--filter', 'reference=mine:*']).out, /\nmine\s+1\s/);
    const untag = berth(root, ['rmi', 'mine:1']);
    assert.equal(untag.out, 'Untagged: mine:1\n');
    const pr = berth(root, ['image', 'prune']);
    assert.match(pr.out, /deleted: sha256:/);
    // the amd64 image's own base layer went; the layer it shares with arm64 stayed
    assert.equal(readdirSync(join(root, 'image', 'snapshots', 'layers')).length, 1);
    const rm = berth(root, ['rmi', `${reg.addr}/test/busybox:multi`]);
    assert.equal(rm.code, 0, rm.err);
    assert.deepEqual(readdirSync(join(root, 'image', 'snapshots', 'layers')), []);
    assert.deepEqual(readdirSync(join(root, 'image', 'content', 'blobs', 'sha256')), []);
    const missing = berth(root, ['rmi', 'nothing:here']);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /No such image: nothing:here/);
  });

  test('bad input: invalid reference, unknown tag, tampered and truncated blobs leave no image', () => {
    const root = freshRoot();
    assert.match(berth(root, ['pull', 'Bad/Name']).err, /repository name must be lowercase/);
    assert.match(berth(root, ['pull', `${reg.addr}/test/busybox:nope`]).err, /404 not found: MANIFEST_UNKNOWN/);
    // damage one layer in the registry's own storage
    const inspect = JSON.parse(skopeo(['inspect', '--tls-verify=false', `docker://${reg.addr}/test/busybox:multi`]));
    const big = inspect.Layers[1] as string;
    const data = join(work, 'registry', 'data', 'docker', 'registry', 'v2', 'blobs', 'sha256', big.slice(7, 9), big.slice(7), 'data');
    const orig = readFileSync(data);
    try {
      const bad = Buffer.from(orig); bad[bad.length - 100] ^= 0xff;
      writeFileSync(data, bad);
      const r = berth(root, ['pull', `${reg.addr}/test/busybox:multi`]);
      assert.equal(r.code, 1);
      assert.match(r.err, new RegExp(`${big}|unexpected end|invalid|incorrect|zlib|header check`));
      truncateSync(data, orig.length - 1000);
      const t = berth(root, ['pull', `${reg.addr}/test/busybox:multi`]);
      assert.equal(t.code, 1);
      assert.match(t.err, /truncated|unexpected end|size/i);
      assert.equal(berth(root, ['images', '-q']).out, '', 'no image became visible');
      assert.deepEqual(readdirSync(join(root, 'image', 'snapshots', 'tmp')), [], 'no unpack left behind');
      assert.deepEqual(readdirSync(join(root, 'image', 'content', 'ingest')), [], 'no ingest left behind');
    } finally {
      writeFileSync(data, orig);
    }
    const ok = berth(root, ['pull', `${reg.addr}/test/busybox:multi`]);
    assert.equal(ok.code, 0, ok.err);
  });

  test('an unknown layer media type is refused before anything is downloaded', () => {
    const lay = join(work, 'odd-layout');
    const desc = addImage(lay, { layers: [tarOf(join(work, 'l2'))] });
    // rewrite the manifest with a layer type nobody knows
    const mpath = join(lay, 'blobs', 'sha256', desc.digest.slice(7));
    const m = JSON.parse(readFileSync(mpath, 'utf8'));
    m.layers[0].mediaType = 'application/vnd.example.unknown';
    const body = Buffer.from(JSON.stringify(m));
    const hex = createHash('sha256').update(body).digest('hex');
    writeFileSync(join(lay, 'blobs', 'sha256', hex), body);
    writeIndex(lay, 'odd', [{ ...desc, digest: `sha256:${hex}`, size: body.length }], false);
    skopeo(['copy', '--dest-tls-verify=false', `oci:${lay}:odd`, `docker://${reg.addr}/test/odd:v1`]);
    const root = freshRoot();
    const r = berth(root, ['pull', `${reg.addr}/test/odd:v1`]);
    assert.equal(r.code, 1);
    assert.match(r.err, /manifest\.layers\[0\]\.mediaType: unknown layer media type "application\/vnd\.example\.unknown"/);
    assert.equal(berth(root, ['images', '-q']).out, '');
  });

  test('a config that does not fit the manifest fails the pull before a layer is unpacked; nothing is left', () => {
    const lay = join(work, 'unfit-layout');
    const desc = addImage(lay, { layers: [tarOf(join(work, 'l2')), Buffer.alloc(1024)] });
    const blob = (d: string) => join(lay, 'blobs', 'sha256', d.slice(7));
    const m = JSON.parse(readFileSync(blob(desc.digest), 'utf8'));
    const config = JSON.parse(readFileSync(blob(m.config.digest), 'utf8'));
    config.rootfs.diff_ids.pop();
    const put = (o: unknown) => { const b = Buffer.from(JSON.stringify(o)); const d = `sha256:${createHash('sha256').update(b).digest('hex')}`; writeFileSync(blob(d), b); return { d, size: b.length }; };
    const c = put(config);
    m.config = { ...m.config, digest: c.d, size: c.size };
    const mm = put(m);
    writeIndex(lay, 'unfit', [{ ...desc, digest: mm.d, size: mm.size }], false);
    skopeo(['copy', '--dest-tls-verify=false', `oci:${lay}:unfit`, `docker://${reg.addr}/test/unfit:v1`]);
    const root = freshRoot();
    const r = berth(root, ['pull', `${reg.addr}/test/unfit:v1`]);
    assert.equal(r.code, 1);
    assert.match(r.err, /config\.rootfs\.diff_ids: lists 1 layers, the manifest 2/);
    assert.equal(berth(root, ['images', '-q']).out, '');
    const left = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);
    assert.deepEqual(left(join(root, 'image', 'content', 'ingest')), [], 'no ingest left behind');
    assert.deepEqual(left(join(root, 'image', 'snapshots', 'tmp')), [], 'no unpack left behind');
  });

  test('zstd layers (recompressed by skopeo) pull and unpack to the same diffIDs', () => {
    // skopeo recompresses only on the way into a directory; from there the zstd blobs go up as they are
    const dir = join(work, 'zstd-dir');
    skopeo(['copy', '--src-tls-verify=false', '--format', 'oci', '--dest-compress', '--dest-compress-format', 'zstd', `docker://${reg.addr}/test/busybox:multi`, `dir:${dir}`]);
    skopeo(['copy', '--dest-tls-verify=false', `dir:${dir}`, `docker://${reg.addr}/test/zstd:v1`]);
    const sk = JSON.parse(skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.addr}/test/zstd:v1`]));
    assert.ok(sk.layers.every((l: { mediaType: string }) => l.mediaType.endsWith('+zstd')), JSON.stringify(sk.layers));
    const root = freshRoot();
    const r = berth(root, ['pull', '-q', `${reg.addr}/test/zstd:v1`]);
    assert.equal(r.code, 0, r.err);
    const zstd = JSON.parse(berth(root, ['image', 'inspect', `${reg.addr}/test/zstd:v1`]).out)[0];
    assert.equal(berth(root, ['pull', '-q', `${reg.addr}/test/busybox:multi`]).code, 0);
    const gzip = JSON.parse(berth(root, ['image', 'inspect', `${reg.addr}/test/busybox:multi`]).out)[0];
    assert.deepEqual(zstd.RootFS.Layers, gzip.RootFS.Layers);
  });

  test('a mirror is tried first, for any registry', async () => {
    const mirror = await startRegistry(join(work, 'mirror'));
    try {
      skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${reg.addr}/test/busybox:multi`, `docker://${mirror.addr}/only/on-mirror:v1`]);
      const root = freshRoot();
      // the origin does not have it: only the mirror can answer
      const r = berth(root, ['pull', '-q', `${reg.addr}/only/on-mirror:v1`], { BERTH_REGISTRY_MIRRORS: `http://${mirror.addr}` });
      assert.equal(r.code, 0, r.err);
      assert.match(berth(root, ['pull', `${reg.addr}/only/on-mirror:v1`]).err, /404 not found/);
    } finally {
      await mirror.stop();
    }
  });

  test('429 and 500 are retried; 403 and an oversized manifest are refused with the reason', async () => {
    const root = freshRoot();
    let blobFails = 0;
    const p = await proxy(reg.addr, (path) => {
      if (path.includes('/blobs/') && blobFails < 2) return blobFails++ === 0 ? 429 : 500;
      if (path.includes('/manifests/forbidden')) return 403;
      if (path.includes('/manifests/huge')) return { big: true };
      return 'pass';
    });
    try {
      const r = await berthAsync(root, ['pull', `${p.addr}/test/busybox:multi`]);
      assert.equal(r.code, 0, r.err);
      assert.equal(blobFails, 2);
      assert.match((await berthAsync(root, ['pull', `${p.addr}/test/busybox:forbidden`])).err, /403 denied: INJECTED: from the test proxy/);
      assert.match((await berthAsync(root, ['pull', `${p.addr}/test/busybox:huge`])).err, /larger than the 4194304/);
    } finally {
      p.server.close();
    }
  });

  test('kill -9 during a pull: no half image; the next pull reuses the verified layer', async () => {
    const root = freshRoot();
    const inspect = JSON.parse(skopeo(['inspect', '--tls-verify=false', `docker://${reg.addr}/test/busybox:multi`]));
    const [small, big] = inspect.Layers as string[];
    let stall = true, smallFetches = 0;
    const p = await proxy(reg.addr, (path, method) => {
      if (method === 'GET' && path.includes(small!.slice(7))) smallFetches++;
      return stall && path.includes(big!.slice(7)) ? 'hang' : 'pass';
    });
    try {
      const child = spawn(BERTH, ['--data-root', root, 'pull', `${p.addr}/test/busybox:multi`], { stdio: 'ignore' });
      const blob = join(root, 'image', 'content', 'blobs', 'sha256', small!.slice(7));
      for (let i = 0; i < 200 && !existsSync(blob); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(existsSync(blob), 'the first layer was verified and stored');
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      assert.equal(berth(root, ['images', '-q']).out, '', 'no image is visible');
      stall = false;
      smallFetches = 0;
      const again = await berthAsync(root, ['pull', `${p.addr}/test/busybox:multi`]);
      assert.equal(again.code, 0, again.err);
      assert.equal(smallFetches, 0, 'the verified layer is not downloaded again');
      assert.deepEqual(readdirSync(join(root, 'image', 'content', 'ingest')), [], 'the dead pull\'s ingest was cleaned');
      assert.ok(statSync(blob).isFile());
    } finally {
      p.server.close();
    }
  });
});

describe('push', () => {
  test('berth push, skopeo reads it back byte for byte; cross-repository mount; chunked upload', async () => {
    const src = await startRegistry(join(work, 'push-src'));
    const dst = await startRegistry(join(work, 'push-dst'));
    try {
      const lay = join(work, 'push-layout');
      makeRootfs(join(work, 'push-rootfs'));
      mkdirSync(join(work, 'push-l2'), { recursive: true });
      writeFileSync(join(work, 'push-l2', 'blob'), randomBytes(3 << 20));
      writeIndex(lay, 'v1', [addImage(lay, { layers: [tarOf(join(work, 'push-rootfs')), tarOf(join(work, 'push-l2'))] })], false);
      skopeo(['copy', '--dest-tls-verify=false', `oci:${lay}:v1`, `docker://${src.addr}/orig/app:v1`]);
      const root = freshRoot();
      assert.equal(berth(root, ['pull', '-q', `${src.addr}/orig/app:v1`]).code, 0);

      // same registry, another repository: the blobs are mounted, not sent
      assert.equal(berth(root, ['tag', `${src.addr}/orig/app:v1`, `${src.addr}/copy/app:v2`]).code, 0);
      const p1 = berth(root, ['push', `${src.addr}/copy/app:v2`]);
      assert.equal(p1.code, 0, p1.err);
      assert.match(p1.out, /Mounted from orig\/app/);
      const digest = /v2: digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(p1.out)?.[1];
      assert.ok(digest, p1.out);
      assert.match(berth(root, ['push', `${src.addr}/copy/app:v2`]).out, /Layer already exists/);

      // another registry, in 1 MiB chunks
      assert.equal(berth(root, ['tag', `${src.addr}/orig/app:v1`, `${dst.addr}/chunked/app:v1`]).code, 0);
      const p2 = berth(root, ['push', `${dst.addr}/chunked/app:v1`], { BERTH_PUSH_CHUNK_SIZE: String(1 << 20) });
      assert.equal(p2.code, 0, p2.err);
      assert.match(p2.out, /Pushed/);

      // skopeo copies what berth pushed; every blob equals berth's
      const out = join(work, 'push-check');
      skopeo(['copy', '--src-tls-verify=false', `docker://${dst.addr}/chunked/app:v1`, `oci:${out}:x`]);
      const blobs = readdirSync(join(out, 'blobs', 'sha256'));
      assert.ok(blobs.includes(digest!.slice(7)), 'the manifest is the one berth stored');
      for (const b of blobs) {
        if (b === JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')).manifests[0].digest.slice(7) && b !== digest!.slice(7)) continue;
        assert.deepEqual(readFileSync(join(out, 'blobs', 'sha256', b)), readFileSync(join(root, 'image', 'content', 'blobs', 'sha256', b)), b);
      }
    } finally {
      await src.stop();
      await dst.stop();
    }
  });
});

describe('registry with basic auth', () => {
  test('401 without credentials; berth login stores them docker-style; logout removes them', async () => {
    const dir = join(work, 'auth-registry');
    mkdirSync(dir, { recursive: true });
    // the registry wants bcrypt entries, which htpasswd(1) makes
    const hp = join(dir, 'htpasswd');
    const made = spawnSync('htpasswd', ['-Bbn', 'tester', 's3cret'], { encoding: 'utf8' });
    assert.equal(made.status, 0, 'htpasswd (apache2-utils) is installed by test/setup.sh');
    writeFileSync(hp, made.stdout);
    const reg = await startRegistry(dir, { htpasswd: hp });
    try {
      const lay = join(work, 'auth-layout');
      makeRootfs(join(work, 'auth-rootfs'));
      writeIndex(lay, 'v1', [addImage(lay, { layers: [tarOf(join(work, 'auth-rootfs'))] })], false);
      skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', 'tester:s3cret', `oci:${lay}:v1`, `docker://${reg.addr}/private/app:v1`]);
      const root = freshRoot();
      const denied = berth(root, ['pull', `${reg.addr}/private/app:v1`]);
      assert.equal(denied.code, 1);
      assert.match(denied.err, /authentication required \(berth login 127\.0\.0\.1:\d+\)/);
      const wrong = spawnSync(BERTH, ['--data-root', root, 'login', '-u', 'tester', '--password-stdin', reg.addr], { input: 'nope\n', encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: join(work, 'docker-config') } });
      assert.equal(wrong.status, 1);
      assert.match(wrong.stderr, /401 unauthorized/);
      const login = spawnSync(BERTH, ['--data-root', root, 'login', '-u', 'tester', '--password-stdin', reg.addr], { input: 's3cret\n', encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: join(work, 'docker-config') } });
      assert.equal(login.stdout, 'Login Succeeded\n', login.stderr);
      const cfg = JSON.parse(readFileSync(join(work, 'docker-config', 'config.json'), 'utf8'));
      assert.equal(Buffer.from(cfg.auths[reg.addr].auth, 'base64').toString(), 'tester:s3cret');
      const ok = berth(root, ['pull', `${reg.addr}/private/app:v1`]);
      assert.equal(ok.code, 0, ok.err);
      assert.equal(berth(root, ['logout', reg.addr]).out, `Removing login credentials for ${reg.addr}\n`);
      assert.equal(JSON.parse(readFileSync(join(work, 'docker-config', 'config.json'), 'utf8')).auths[reg.addr], undefined);
    } finally {
      await reg.stop();
    }
  });
});

describe('registry with bearer tokens', () => {
  test('the token flow: the registry sends berth to a token service, and checks the signed token it brings back', async () => {
    // a token service of our own (Debian has none packaged); docker-registry verifies its RS256 tokens against our certificate
    const dir = join(work, 'token-registry');
    mkdirSync(dir, { recursive: true });
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=berth-test-issuer'], { stdio: 'ignore' });
    const key = readFileSync(join(dir, 'key.pem'), 'utf8');
    const certDer = readFileSync(join(dir, 'cert.pem'), 'utf8').replace(/-----[^-]+-----|\s/g, '');
    const b64u = (b: Buffer | string) => Buffer.from(b).toString('base64url');
    const scopesSeen: string[] = [];
    const tokens = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const auth = req.headers.authorization ?? '';
      if (auth !== `Basic ${Buffer.from('tester:s3cret').toString('base64')}`) { res.writeHead(401); res.end(); return; }
      const access = url.searchParams.getAll('scope').map((s) => {
        scopesSeen.push(s);
        const [type, name, actions] = s.split(':');
        return { type, name, actions: actions!.split(',') };
      });
      const now = Math.floor(Date.now() / 1000);
      const head = b64u(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [certDer] }));
      const body = b64u(JSON.stringify({ iss: 'berth-test-issuer', sub: 'tester', aud: 'berth-test', exp: now + 300, nbf: now - 10, iat: now, jti: String(Math.random()), access }));
      const sig = createSign('RSA-SHA256').update(`${head}.${body}`).sign(key);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: `${head}.${body}.${b64u(sig)}` }));
    });
    await new Promise<void>((r) => tokens.listen(0, '127.0.0.1', () => r()));
    const realm = `http://127.0.0.1:${(tokens.address() as { port: number }).port}/token`;
    const reg = await startRegistry(dir, { token: { realm, service: 'berth-test', issuer: 'berth-test-issuer', rootcertbundle: join(dir, 'cert.pem') } });
    try {
      const lay = join(work, 'token-layout');
      makeRootfs(join(work, 'token-rootfs'));
      writeIndex(lay, 'v1', [addImage(lay, { layers: [tarOf(join(work, 'token-rootfs'))] })], false);
      const sk = spawn('skopeo', ['--insecure-policy', 'copy', '--dest-tls-verify=false', '--dest-creds', 'tester:s3cret', `oci:${lay}:v1`, `docker://${reg.addr}/tok/app:v1`], { stdio: 'ignore' });
      assert.equal(await new Promise((r) => sk.on('close', r)), 0, 'skopeo pushes through the token service');
      scopesSeen.length = 0; // from here on, only berth's requests
      const root = freshRoot();
      const denied = await berthAsync(root, ['pull', `${reg.addr}/tok/app:v1`]);
      assert.equal(denied.code, 1);
      assert.match(denied.err, /token service .* answered 401 \(wrong credentials\?\)/);
      const cfg = join(work, 'docker-config');
      mkdirSync(cfg, { recursive: true });
      const prev = existsSync(join(cfg, 'config.json')) ? JSON.parse(readFileSync(join(cfg, 'config.json'), 'utf8')) : {};
      writeFileSync(join(cfg, 'config.json'), JSON.stringify({ ...prev, auths: { ...(prev.auths ?? {}), [reg.addr]: { auth: Buffer.from('tester:s3cret').toString('base64') } } }));
      const ok = await berthAsync(root, ['pull', `${reg.addr}/tok/app:v1`]);
      assert.equal(ok.code, 0, ok.err);
      assert.ok(scopesSeen.includes('repository:tok/app:pull'), scopesSeen.join(' '));
      // a push to another repository mounts the blobs: one token for push here and pull there
      scopesSeen.length = 0;
      assert.equal((await berthAsync(root, ['tag', `${reg.addr}/tok/app:v1`, `${reg.addr}/tok/copy:v1`])).code, 0);
      const push = await berthAsync(root, ['push', `${reg.addr}/tok/copy:v1`]);
      assert.equal(push.code, 0, push.err);
      assert.match(push.out, /Mounted from tok\/app/);
      assert.ok(scopesSeen.includes('repository:tok/copy:pull,push') && scopesSeen.includes('repository:tok/app:pull'), scopesSeen.join(' '));
    } finally {
      await reg.stop();
      tokens.close();
    }
  });
});

describe('blob downloads over node:http', () => {
  test('redirects are followed; credentials go only to the origin they were given for', async () => {
    const { httpGet } = await import('../src/image/registry/http-get.js');
    const seen: { host: string; path: string; auth?: string }[] = [];
    const serve = (name: string, handle: (path: string, res: import('node:http').ServerResponse) => void) => new Promise<Server & { port: number }>((resolve) => {
      const s = createServer((req, res) => { seen.push({ host: name, path: req.url ?? '', auth: req.headers.authorization }); handle(req.url ?? '', res); });
      s.listen(0, '127.0.0.1', () => resolve(Object.assign(s, { port: (s.address() as { port: number }).port })));
    });
    const cdn = await serve('cdn', (_p, res) => { res.end('blob bytes'); });
    const reg = await serve('registry', (path, res) => {
      if (path === '/same') { res.writeHead(307, { location: '/other' }); res.end(); return; }
      if (path === '/other') { res.writeHead(302, { location: `http://127.0.0.1:${cdn.port}/blob` }); res.end(); return; }
      res.writeHead(404); res.end();
    });
    try {
      const r = await httpGet(`http://127.0.0.1:${reg.port}/same`, { authorization: 'Bearer secret' });
      const chunks: Buffer[] = [];
      for await (const c of r.body) chunks.push(c as Buffer);
      assert.equal(Buffer.concat(chunks).toString(), 'blob bytes');
      assert.deepEqual(seen.map((s) => [s.host, s.path, s.auth]), [
        ['registry', '/same', 'Bearer secret'], ['registry', '/other', 'Bearer secret'], ['cdn', '/blob', undefined],
      ]);
      const missing = await httpGet(`http://127.0.0.1:${reg.port}/nothing`, {});
      assert.equal(missing.status, 404);
      await missing.body.cancel();
    } finally {
      reg.close(); cdn.close();
    }
  });
});
