// The same Dockerfile built by berth and by Debian's dockerd 20.10 (a private
// one, classic builder): the same file tree in every layer (names, types,
// modes, owners, sizes, contents, link targets; not mtimes), the same config
// and the same history shape (which lines, which make a layer).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import tarStream from 'tar-stream';
import { PREFIX } from './helpers/env.js';
import { makeRootfs } from './helpers/make-bundle.js';
import { tarOf } from './helpers/oci-image.js';
import { PrivateBerthd, dockerBin } from './helpers/berthd.js';
import { PrivateDockerd } from './helpers/dockerd.js';

process.env.DOCKER_BUILDKIT = '0'; // the classic builder on both sides (this docker CLI has no buildx)
const BASE = 'berth-test/diffbase:1';
const work = mkdtempSync(join(tmpdir(), `${PREFIX}-build-diff-`));
chmodSync(work, 0o755);
const berth = new PrivateBerthd();
const docker = new PrivateDockerd();

before(async () => {
  makeRootfs(join(work, 'rootfs'));
  writeFileSync(join(work, 'rootfs.tar'), tarOf(join(work, 'rootfs')));
  await berth.start();
  await docker.start();
  assert.equal(berth.docker(['import', '-c', 'CMD ["sh"]', join(work, 'rootfs.tar'), BASE]).code, 0);
  const imp = docker.docker(['import', '-c', 'CMD ["sh"]', join(work, 'rootfs.tar'), BASE]);
  assert.equal(imp.code, 0, imp.err);
});
after(async () => {
  await berth.stop();
  await docker.stop();
  rmSync(work, { recursive: true, force: true });
});

/** Each layer of a saved image as lines (type, name, permission bits (Go also writes the type bits in the mode field; the type is in typeflag), owner, size, content digest, link target), and its history's shape. */
async function layerTrees(save: Buffer): Promise<{ layers: string[][]; history: string[] }> {
  const files = new Map<string, Buffer>();
  await new Promise<void>((res, rej) => {
    const x = tarStream.extract();
    x.on('entry', (h, s, next) => { const parts: Buffer[] = []; s.on('data', (c) => parts.push(c as Buffer)); s.on('end', () => { files.set(h.name.replace(/^\.\//, ''), Buffer.concat(parts)); next(); }); });
    x.on('finish', res);
    x.on('error', rej);
    x.end(save);
  });
  const manifest = JSON.parse(files.get('manifest.json')!.toString())[0] as { Config: string; Layers: string[] };
  const config = JSON.parse(files.get(manifest.Config)!.toString()) as { history: { created_by?: string; empty_layer?: boolean }[] };
  // which lines made a layer, and what they say (the digest of what a COPY copied is each builder's own)
  const history = config.history.map((h) => `${(h.created_by ?? '').replace(/(file|dir|multi):[0-9a-f]{64}/, '$1:X')} ${h.empty_layer ? 'empty' : 'layer'}`);
  const out: string[][] = [];
  for (const layer of manifest.Layers) {
    const lines: string[] = [];
    await new Promise<void>((res, rej) => {
      const x = tarStream.extract();
      x.on('entry', (h, s, next) => {
        const hash = createHash('sha256');
        s.on('data', (c) => hash.update(c as Buffer));
        s.on('end', () => { lines.push(`${h.type} ${h.name.replace(/^\.\//, '').replace(/\/$/, '')} ${((h.mode ?? 0) & 0o7777).toString(8)} ${h.uid}:${h.gid} ${h.size} ${h.type === 'file' ? hash.digest('hex').slice(0, 16) : ''} ${h.linkname ?? ''}`); next(); });
      });
      x.on('finish', res);
      x.on('error', rej);
      x.end(files.get(layer)!);
    });
    out.push(lines.sort());
  }
  return { layers: out, history };
}

const saved = (bin: string, args: string[], env: NodeJS.ProcessEnv, name: string) => spawnSync(bin, [...args, 'save', name], { env, maxBuffer: 1 << 28 }).stdout;

test('berth and dockerd 20.10 build the same Dockerfile alike: every layer\'s files, the config, the history\'s shape', async () => {
  const ctx = join(work, 'ctx');
  mkdirSync(join(ctx, 'files', 'sub'), { recursive: true });
  writeFileSync(join(ctx, 'files', 'a.txt'), 'a\n');
  writeFileSync(join(ctx, 'files', 'sub', 'b.txt'), 'b\n');
  chmodSync(join(ctx, 'files', 'sub', 'b.txt'), 0o600);
  symlinkSync('a.txt', join(ctx, 'files', 'link'));
  writeFileSync(join(ctx, 'one.txt'), 'one\n');
  writeFileSync(join(ctx, 'Dockerfile'), [
    `FROM ${BASE}`,
    'ENV GREETING=hello PATH=/usr/local/bin:/bin',
    'WORKDIR /app',
    'COPY files/ ./files/',
    'COPY --chown=1000:1000 one.txt /app/owned.txt',
    'RUN echo "$GREETING" > /app/run.txt && rm /bin/yes && mkdir -p /var/empty && chmod 0750 /var/empty',
    'USER 1000',
    'EXPOSE 80 53/udp',
    'VOLUME /data',
    'LABEL a=b c="d e"',
    'HEALTHCHECK --interval=30s --retries=3 CMD true',
    'ENTRYPOINT ["/bin/sh", "-c"]',
    'CMD ["cat /app/run.txt"]',
    '',
  ].join('\n'));
  const b = berth.docker(['build', '-t', 'diff:1', ctx]);
  assert.equal(b.code, 0, b.out + b.err);
  const d = docker.docker(['build', '-t', 'diff:1', ctx]);
  assert.equal(d.code, 0, d.out + d.err);
  const ours = JSON.parse(berth.docker(['image', 'inspect', 'diff:1']).out)[0], theirs = JSON.parse(docker.docker(['image', 'inspect', 'diff:1']).out)[0];
  for (const k of ['Env', 'Cmd', 'Entrypoint', 'WorkingDir', 'User', 'ExposedPorts', 'Volumes', 'Labels', 'Healthcheck']) assert.deepEqual(ours.Config[k], theirs.Config[k], k);
  const mine = await layerTrees(saved(dockerBin, [], berth.env(), 'diff:1'));
  const dockers = await layerTrees(saved(docker.bin, ['-H', `unix://${docker.sock}`], process.env, 'diff:1'));
  assert.deepEqual(mine.history, dockers.history);
  assert.equal(mine.layers.length, dockers.layers.length, 'as many layers');
  for (let i = 0; i < mine.layers.length; i++) assert.deepEqual(mine.layers[i], dockers.layers[i], `layer ${i}`);
});
