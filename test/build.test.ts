// Builds through the docker CLI (its classic builder, DOCKER_BUILDKIT=0) and
// dockerode against berthd: multi-stage with --target, build args, ARG
// before FROM, .dockerignore, COPY --from, -q, the cache on a second build,
// the image's config and history, and the errors a user meets. Then the
// images run. Stages plan without root.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import Docker from 'dockerode';
import { PREFIX } from './helpers/env.js';
import { makeRootfs } from './helpers/make-bundle.js';
import { tarOf } from './helpers/oci-image.js';
import { PrivateBerthd, BERTH as BERTH_CLI, dockerBin } from './helpers/berthd.js';
import { parseDockerfile, planStages } from '../src/build/index.js';
import { isOpaque } from '../src/image/layer/overlay-format.js';

const BASE = 'berth-test/buildbox:1';
const work = mkdtempSync(join(tmpdir(), `${PREFIX}-build-`));
chmodSync(work, 0o755);

test('stages: the target\'s graph only, ARG before FROM, stage names and indexes, unknown targets and bad --from refused', () => {
  const df = parseDockerfile('ARG BASE=alpine\nFROM ${BASE} AS one\nRUN true\nFROM busybox AS two\nRUN false\nFROM one AS three\nCOPY --from=0 /a /b\n');
  const g = planStages(df, new Map([['BASE', 'debian']]), 'three');
  assert.deepEqual(g.order, [0, 2], 'two is not needed for three');
  assert.equal(g.stages[0]!.base, 'debian');
  assert.equal(g.stages[2]!.baseStage, 0);
  assert.throws(() => planStages(df, new Map(), 'four'), /target stage "four" could not be found/);
  assert.throws(() => planStages(parseDockerfile('FROM a\nCOPY --from=1 /x /y\nFROM b\n'), new Map()), /refers to current or future build stage/);
  assert.throws(() => planStages(parseDockerfile('RUN true\nFROM a\n'), new Map()), /RUN comes before the first FROM/);
});

describe('docker build against berthd (classic builder)', () => {
  const d = new PrivateBerthd();
  const ctx = join(work, 'ctx');
  const env = () => ({ ...d.env(), DOCKER_BUILDKIT: '0' });
  before(async () => {
    makeRootfs(join(work, 'rootfs'));
    writeFileSync(join(work, 'rootfs.tar'), tarOf(join(work, 'rootfs')));
    await d.start();
    assert.equal(d.berth(['import', '-c', 'CMD ["sh"]', join(work, 'rootfs.tar'), BASE]).code, 0);
    mkdirSync(join(ctx, 'files'), { recursive: true });
    writeFileSync(join(ctx, 'greet.txt'), 'berth');
    writeFileSync(join(ctx, 'files', 'kept.txt'), 'kept\n');
    writeFileSync(join(ctx, 'files', 'secret.txt'), 'secret\n');
    symlinkSync('/etc/shadow', join(ctx, 'files', 'outside'));
    writeFileSync(join(ctx, '.dockerignore'), 'files/secret.txt\n');
    writeFileSync(join(ctx, 'Dockerfile'), [
      `ARG BASE=${BASE}`,
      'FROM ${BASE} AS builder',
      'ARG GREETING=hello',
      'WORKDIR /src',
      'COPY greet.txt ./',
      'RUN echo "$GREETING from $(cat greet.txt)" > /src/out.txt',
      `FROM ${BASE} AS unused`,
      'RUN exit 1',
      `FROM ${BASE}`,
      'ENV APP=/app',
      'WORKDIR $APP',
      'COPY --from=builder /src/out.txt .',
      'COPY files/ ./files/',
      'LABEL com.example.built=yes',
      'EXPOSE 8080',
      'CMD ["cat", "/app/out.txt"]',
      '',
    ].join('\n'));
  });
  after(async () => {
    await d.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('a multi-stage build with a build arg, .dockerignore and COPY --from; the image runs, its config and history are docker\'s; a second build is all cache', () => {
    const r = d.dockerEnv(['build', '-t', 'built:1', '--build-arg', 'GREETING=hi', ctx], env());
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /Step 1\/14 : ARG BASE=berth-test\/buildbox:1\nStep 2\/14 : FROM \$\{BASE\} AS builder\n ---> [0-9a-f]{12}\n/, 'the lines as written, the ARG before FROM a step of its own (docker\'s classic builder prints them so)');
    assert.match(r.out, /Successfully built [0-9a-f]{12}\nSuccessfully tagged built:1\n/);
    assert.doesNotMatch(r.out, /exit 1/, 'the unused stage is not built');
    assert.equal(d.docker(['run', '--rm', 'built:1']).out, 'hi from berth\n');
    const ls = d.docker(['run', '--rm', 'built:1', 'ls', '-A', '/app/files']).out;
    assert.equal(ls, 'kept.txt\noutside\n', 'the ignored file is not copied');
    assert.equal(d.docker(['run', '--rm', 'built:1', 'readlink', '/app/files/outside']).out, '/etc/shadow\n', 'a symlink is copied as a symlink');
    const img = JSON.parse(d.docker(['image', 'inspect', 'built:1']).out)[0];
    assert.ok(img.Config.Env.includes('APP=/app'));
    assert.equal(img.Config.WorkingDir, '/app');
    assert.deepEqual(img.Config.Cmd, ['cat', '/app/out.txt']);
    assert.deepEqual(img.Config.ExposedPorts, { '8080/tcp': {} });
    assert.equal(img.Config.Labels['com.example.built'], 'yes');
    const history = JSON.parse(`[${d.docker(['history', '--no-trunc', '--format', '{{json .CreatedBy}}', 'built:1']).out.trim().split('\n').join(',')}]`) as string[];
    // the history lines dockerd 20.10's classic builder writes (this very Dockerfile, built there, gave these shapes)
    assert.equal(history[0], '/bin/sh -c #(nop)  CMD ["cat" "/app/out.txt"]');
    assert.equal(history[1], '/bin/sh -c #(nop)  EXPOSE 8080');
    assert.equal(history[2], '/bin/sh -c #(nop)  LABEL com.example.built=yes');
    assert.match(history[3]!, /^\/bin\/sh -c #\(nop\) COPY dir:[0-9a-f]{64} in \.\/files\/ $/);
    assert.match(history[4]!, /^\/bin\/sh -c #\(nop\) COPY file:[0-9a-f]{64} in \. $/);
    assert.equal(history[5], '/bin/sh -c #(nop) WORKDIR /app');
    assert.equal(history[6], '/bin/sh -c #(nop)  ENV APP=/app');
    // unchanged: every step from the cache, the same image
    const again = d.dockerEnv(['build', '-t', 'built:1', '--build-arg', 'GREETING=hi', ctx], env());
    assert.equal(again.code, 0, again.err);
    assert.equal((again.out.match(/Using cache/g) ?? []).length, (again.out.match(/^Step /gm) ?? []).length - 3, 'all but the ARG before FROM and the two FROMs');
    assert.equal(/Successfully built ([0-9a-f]{12})/.exec(again.out)?.[1], /Successfully built ([0-9a-f]{12})/.exec(r.out)?.[1], 'the same image');
    // a build arg that changed rebuilds the RUN that saw it
    const hello = d.dockerEnv(['build', '-q', '--target', 'builder', ctx], env());
    assert.equal(hello.code, 0, hello.err);
    assert.match(hello.out, /^sha256:[0-9a-f]{64}\n$/);
    assert.equal(d.docker(['run', '--rm', hello.out.trim(), 'cat', '/src/out.txt']).out, 'hello from berth\n');
    // intermediate images (untagged, with a child) are listed only with -a, and are not dangling
    const listed = d.docker(['images', '-q']).out.split('\n').filter(Boolean), all = d.docker(['images', '-aq']).out.split('\n').filter(Boolean);
    assert.ok(all.length > listed.length + 5, `${all.length} with -a, ${listed.length} without`);
    const parent = JSON.parse(d.docker(['image', 'inspect', 'built:1']).out)[0].Parent as string;
    assert.match(parent, /^sha256:/);
    assert.ok(!listed.includes(parent.slice(7, 19)) && all.includes(parent.slice(7, 19)));
    assert.ok(!d.docker(['images', '-q', '--filter', 'dangling=true']).out.includes(parent.slice(7, 19)));
  });

  test('the cache: image prune keeps it (intermediate images are not dangling); system df counts it; builder prune frees it, and the next build runs every step', () => {
    assert.equal(d.docker(['image', 'prune', '-f']).code, 0);
    const cached = d.dockerEnv(['build', '-t', 'built:1', '--build-arg', 'GREETING=hi', ctx], env());
    // the builder stage's last image is dangling (no child, no name), as in docker, and went; the final stage's chain stayed
    assert.match(cached.out, /Step 12\/14 : LABEL[^\n]*\n ---> Using cache/, 'image prune left the cache');
    const df = JSON.parse(d.docker(['system', 'df', '--format', '{{json .}}']).out.trim().split('\n').find((l) => l.includes('Build Cache'))!);
    assert.ok(Number(df.TotalCount) > 5, JSON.stringify(df));
    const pruned = d.docker(['builder', 'prune', '-f']);
    assert.equal(pruned.code, 0, pruned.err);
    assert.match(pruned.out, /Total:?\s+\S+/);
    assert.equal(d.docker(['run', '--rm', 'built:1']).out, 'hi from berth\n', 'the tagged image is whole');
    const again = d.dockerEnv(['build', '-t', 'built:1', '--build-arg', 'GREETING=hi', ctx], env());
    assert.equal(again.code, 0, again.err);
    assert.doesNotMatch(again.out, /Using cache/);
  });

  test('a cache miss says why: a build arg that changed, a file whose content changed, an instruction that changed; a touch is still a hit', () => {
    const arg = d.dockerEnv(['build', '-t', 'built:1', '--build-arg', 'GREETING=hey', ctx], env());
    assert.equal(arg.code, 0, arg.err);
    assert.match(arg.out, /Step 6\/14 : RUN[^\n]*\n ---> Cache miss: its environment changed: GREETING\n/);
    assert.match(arg.out, /Step 5\/14 : COPY greet.txt \.\/\n ---> Using cache\n/);
    spawnSync('touch', [join(ctx, 'files', 'kept.txt'), join(ctx, 'greet.txt')]);
    writeFileSync(join(ctx, 'files', 'kept.txt'), 'kept, changed\n');
    const file = d.dockerEnv(['build', '-t', 'built:1', '--build-arg', 'GREETING=hey', ctx], env());
    assert.equal(file.code, 0, file.err);
    assert.match(file.out, /Step 5\/14 : COPY greet.txt \.\/\n ---> Using cache\n/, 'a touched file with the same content is a hit');
    assert.match(file.out, /Step 11\/14 : COPY files\/ \.\/files\/\n ---> Cache miss: content changed: \/app\/files\/kept.txt\n/);
    assert.match(file.out, /Step 12\/14 : LABEL[^\n]*\n ---> Cache miss: a step before it was made again/);
  });

  test('a build of the same tags finds its last context kept and makes it what the client sent: files changed (same size or not), gone, a link made a file; a read-write bind does not write to it; builder prune removes it', () => {
    const c = join(work, 'kept-ctx');
    mkdirSync(join(c, 'd'), { recursive: true });
    writeFileSync(join(c, 'same.txt'), 'aaaa\n');
    writeFileSync(join(c, 'grow.txt'), 'short\n');
    writeFileSync(join(c, 'd', 'gone.txt'), 'gone\n');
    symlinkSync('same.txt', join(c, 'link'));
    writeFileSync(join(c, 'Dockerfile'), `FROM ${BASE}\nRUN --mount=type=bind,target=/ctx,rw sh -c 'echo written > /ctx/same.txt; echo new > /ctx/extra'\nCOPY . /c\nCMD ["sh", "-c", "cd /c && find . -type f -o -type l | sort && cat same.txt grow.txt link"]\n`);
    const show = () => { const b = d.berth(['build', '-q', '-t', 'kept:1', c]); assert.equal(b.code, 0, b.err); return d.docker(['run', '--rm', 'kept:1']).out; };
    assert.equal(show(), './Dockerfile\n./d/gone.txt\n./grow.txt\n./link\n./same.txt\naaaa\nshort\naaaa\n', 'the step\'s writes went to a copy');
    writeFileSync(join(c, 'same.txt'), 'bbbb\n');
    writeFileSync(join(c, 'grow.txt'), 'much longer now\n');
    rmSync(join(c, 'd', 'gone.txt'));
    rmSync(join(c, 'link'));
    writeFileSync(join(c, 'link'), 'a file now\n');
    assert.equal(show(), './Dockerfile\n./grow.txt\n./link\n./same.txt\nbbbb\nmuch longer now\na file now\n');
    const kept = join(d.dataRoot, 'build-contexts');
    assert.equal(readdirSync(kept).length > 0, true, 'the context is kept');
    const df = d.docker(['system', 'df', '-v']).out;
    assert.match(df, /source\.local/, 'system df counts the kept context');
    assert.equal(d.docker(['builder', 'prune', '-f']).code, 0);
    assert.deepEqual(readdirSync(kept), []);
  });

  test('berth build sends only what changed: berthd asks for the paths whose signature differs from what its kept context was made from; deletions need no bytes; an unknown or stale list is refused (409) and a bad one named (400); a damaged kept context makes berth build send it whole', async () => {
    const c = join(work, 'delta-ctx');
    mkdirSync(join(c, 'sub'), { recursive: true });
    writeFileSync(join(c, 'a.txt'), 'one\n');
    writeFileSync(join(c, 'sub', 'b.txt'), 'bee\n');
    writeFileSync(join(c, 'Dockerfile'), `FROM ${BASE}\nCOPY . /c\nCMD ["sh", "-c", "cd /c && find . -type f | sort && cat a.txt"]\n`);
    const q = 't=delta%3A1&dockerfile=Dockerfile';
    const ask = async (list: [string, string][]) => {
      const r = await d.api('POST', `/berth/build-context?${q}`, JSON.stringify({ entries: list }), { 'content-type': 'application/json' });
      assert.equal(r.status, 200, r.text);
      return r.json as { token: string; want: string[] };
    };
    // the tar of just these paths of the context (directories without what they hold)
    const partial = (paths: string[]) => (paths.length ? spawnSync('tar', ['-C', c, '--no-recursion', '-cf', '-', ...paths], { maxBuffer: 1 << 24 }).stdout : Buffer.alloc(1024));
    const build = (token: string, paths: string[]) => d.api('POST', `/build?${q}&q=1`, partial(paths), { 'content-type': 'application/x-tar', 'x-berth-context': token });
    const run = () => d.docker(['run', '--rm', 'delta:1']).out;
    const list: [string, string][] = [['Dockerfile', 'f1'], ['a.txt', 'a1'], ['sub', 'd1'], ['sub/b.txt', 'b1']];
    let asked = await ask(list);
    assert.deepEqual(asked.want.sort(), ['Dockerfile', 'a.txt', 'sub', 'sub/b.txt'], 'nothing kept yet: all of it');
    assert.equal((await build(asked.token, asked.want)).status, 200);
    assert.equal(run(), './Dockerfile\n./a.txt\n./sub/b.txt\none\n');
    writeFileSync(join(c, 'a.txt'), 'two\n');
    asked = await ask([['Dockerfile', 'f1'], ['a.txt', 'a2'], ['sub', 'd1'], ['sub/b.txt', 'b1']]);
    assert.deepEqual(asked.want, ['a.txt'], 'only the changed path');
    assert.equal((await build(asked.token, ['sub', 'a.txt'])).status, 200);
    assert.equal(run(), './Dockerfile\n./a.txt\n./sub/b.txt\ntwo\n', 'the rest came from the kept context');
    asked = await ask([['Dockerfile', 'f1'], ['a.txt', 'a2'], ['sub', 'd2']]);
    assert.deepEqual(asked.want, ['sub']);
    assert.equal((await build(asked.token, ['sub'])).status, 200);
    assert.equal(run(), './Dockerfile\n./a.txt\ntwo\n', 'what the list left out is gone');
    // refusals: a token berthd never gave, a list made before the kept context changed, a malformed list
    const unknown = await build('0'.repeat(32), ['sub']);
    assert.equal(unknown.status, 409);
    assert.match(unknown.text, /no such context list.*send the context whole/);
    const stale = await ask([['Dockerfile', 'f1'], ['a.txt', 'a2'], ['sub', 'd2']]);
    const fresh = await ask([['Dockerfile', 'f1'], ['a.txt', 'a2'], ['sub', 'd2']]);
    assert.equal((await build(fresh.token, [])).status, 200);
    const late = await build(stale.token, []);
    assert.equal(late.status, 409);
    assert.match(late.text, /changed since its list was asked for/);
    for (const bad of ['{"entries": [["/abs", "x"]]}', '{"entries": "no"}', '[]']) {
      const r = await d.api('POST', `/berth/build-context?${q}`, bad, { 'content-type': 'application/json' });
      assert.equal(r.status, 400, bad);
      assert.match(r.text, /entries/);
    }
    // berth build itself: a change, then a kept file lost behind berthd's back (berthd finds it missing: 409, and the CLI sends all)
    writeFileSync(join(c, 'sub', 'b.txt'), 'back\n');
    const cli = () => { const b = d.berth(['build', '-q', '-t', 'delta:1', c]); assert.equal(b.code, 0, b.err); return run(); };
    assert.equal(cli(), './Dockerfile\n./a.txt\n./sub/b.txt\ntwo\n');
    writeFileSync(join(c, 'a.txt'), 'three\n');
    assert.equal(cli(), './Dockerfile\n./a.txt\n./sub/b.txt\nthree\n');
    const keptDir = readdirSync(join(d.dataRoot, 'build-contexts')).map((k) => join(d.dataRoot, 'build-contexts', k)).find((k) => readdirSync(k).includes('a.txt') && readdirSync(k).includes('sub'))!;
    rmSync(join(keptDir, 'sub', 'b.txt'));
    assert.equal(cli(), './Dockerfile\n./a.txt\n./sub/b.txt\nthree\n', 'sent whole after berthd found its copy short');
  });

  test('a step\'s container becomes its layer without a second unpack: each layer\'s snapshot holds exactly what its blob holds (files, whiteouts, an opaque directory), without the runtime\'s mount points', async () => {
    const c = join(work, 'adopt-ctx');
    mkdirSync(c, { recursive: true });
    writeFileSync(join(c, 'greet.txt'), 'hi\n');
    writeFileSync(join(c, 'Dockerfile'), [
      `FROM ${BASE}`,
      'RUN mkdir -p /d/sub /gone && echo x > /d/sub/f && echo y > /new && ln -s new /link && touch /gone/a',
      'RUN rm -rf /d /gone/a /new && mkdir /d && echo z > /d/only && chmod 0750 /d',
      'COPY greet.txt /d/',
      '',
    ].join('\n'));
    const b = d.berth(['build', '-q', '-t', 'adopt:1', c]);
    assert.equal(b.code, 0, b.err);
    assert.equal(d.docker(['run', '--rm', 'adopt:1', 'sh', '-c', 'ls -a /d; test -e /new || echo no-new; readlink /link; ls -a /gone']).out, '.\n..\ngreet.txt\nonly\nno-new\nnew\n.\n..\n');
    // the image as docker save gives it, and each layer's tar unpacked as GNU tar does (whiteouts stay files named .wh.*)
    const out = join(work, 'adopt-saved');
    mkdirSync(out, { recursive: true });
    assert.equal(spawnSync('sh', ['-c', `"${dockerBin}" save adopt:1 | tar -x -C "${out}"`], { env: d.env() }).status, 0);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as [{ Layers: string[]; Config: string }];
    const diffIDs = (JSON.parse(readFileSync(join(out, manifest[0].Config), 'utf8')) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;
    const layers = JSON.parse(readFileSync(join(d.dataRoot, 'image', 'snapshots', 'layers.json'), 'utf8')) as Record<string, { id: string; diffID: string }>;
    // a tree as sorted lines "path type mode uid:gid content"; overlay's whiteouts and opaque marks in the tar's words
    const fromDir = (dir: string, rel = ''): string[] => readdirSync(join(dir, rel)).flatMap((name) => {
      const r = rel ? `${rel}/${name}` : name, p = join(dir, r), st = lstatSync(p);
      if (st.isCharacterDevice() && st.rdev === 0) return [`${rel ? `${rel}/` : ''}.wh.${name} file 600 0:0 `];
      const kind = st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symlink' : 'file';
      const body = kind === 'file' ? readFileSync(p).toString('hex') : kind === 'symlink' ? readlinkSync(p) : '';
      const opaque = st.isDirectory() && isOpaque(p) ? [`${r}/.wh..wh..opq file 600 0:0 `] : [];
      return [`${r} ${kind} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${body}`, ...opaque, ...(st.isDirectory() ? fromDir(dir, r) : [])];
    }).sort();
    assert.equal(manifest[0].Layers.length, diffIDs.length);
    for (let i = 1; i < diffIDs.length; i++) { // the base's own layer was imported, not built
      const snap = Object.values(layers).find((l) => l.diffID === diffIDs[i]);
      assert.ok(snap, `a snapshot for layer ${i}`);
      const unpacked = join(out, `layer-${i}`);
      mkdirSync(unpacked);
      assert.equal(spawnSync('tar', ['-x', '-p', '--same-owner', '-C', unpacked, '-f', join(out, manifest[0].Layers[i]!)]).status, 0);
      assert.deepEqual(fromDir(join(d.dataRoot, 'image', 'snapshots', 'layers', snap.id)).sort(), fromDir(unpacked).sort(), `layer ${i}: the snapshot is its blob`);
    }
  });

  test('SOURCE_DATE_EPOCH: two builds without the cache give byte-identical layers and the same image ID, dated then', () => {
    const rep = join(work, 'repro');
    mkdirSync(rep, { recursive: true });
    writeFileSync(join(rep, 'a.txt'), 'a\n');
    writeFileSync(join(rep, 'Dockerfile'), `FROM ${BASE}\nWORKDIR /w\nCOPY a.txt .\nRUN echo made > /w/made && mkdir -p /w/d\nENV X=1\n`);
    const ids = [1, 2].map(() => {
      const r = d.dockerEnv(['build', '-q', '--no-cache', '--build-arg', 'SOURCE_DATE_EPOCH=1700000000', rep], env());
      assert.equal(r.code, 0, r.err);
      return r.out.trim();
    });
    assert.equal(ids[0], ids[1]);
    const img = JSON.parse(d.docker(['image', 'inspect', ids[0]!]).out)[0];
    assert.equal(img.Created, '2023-11-14T22:13:20.000Z');
    assert.equal(d.docker(['run', '--rm', ids[0]!, 'stat', '-c', '%Y', '/w/made']).out, '1700000000\n', 'a file the RUN made is dated no later than the epoch');
    const plain = d.dockerEnv(['build', '-q', '--no-cache', rep], env()).out.trim();
    assert.notEqual(plain, ids[0], 'without it, the build\'s own time');
  });

  test('heredocs: a RUN whose command is a heredoc runs it as a script, a heredoc fed to a command, COPY of heredocs (expanded unless quoted); ADD unpacks a local tar and a gzipped one', () => {
    const h = join(work, 'heredocs');
    mkdirSync(join(h, 'tree', 'sub'), { recursive: true });
    writeFileSync(join(h, 'tree', 'sub', 'x.txt'), 'x\n');
    assert.equal(spawnSync('tar', ['-C', join(h, 'tree'), '-cf', join(h, 'plain.tar'), '.']).status, 0);
    assert.equal(spawnSync('tar', ['-C', join(h, 'tree'), '-czf', join(h, 'packed.tgz'), '.']).status, 0);
    writeFileSync(join(h, 'Dockerfile'), [
      `FROM ${BASE}`, 'ARG NAME=world',
      'RUN <<EOF', 'echo "script ran" > /script.txt', 'echo "$NAME" >> /script.txt', 'EOF',
      'RUN cat > /fed.txt <<-EOT', '\tfed $NAME', '\tEOT',
      'COPY <<EOF <<\'RAW\' /etc/', 'hello ${NAME}', 'EOF', 'raw ${NAME}', 'RAW',
      'ADD plain.tar /opt/plain/', 'ADD packed.tgz /opt/packed', '',
    ].join('\n'));
    const r = d.dockerEnv(['build', '-t', 'heredocs:1', h], env());
    assert.equal(r.code, 0, r.out + r.err);
    const cat = (f: string) => d.docker(['run', '--rm', 'heredocs:1', 'cat', f]).out;
    assert.equal(cat('/script.txt'), 'script ran\nworld\n');
    assert.equal(cat('/fed.txt'), 'fed world\n');
    assert.equal(cat('/etc/EOF'), 'hello world\n');
    assert.equal(cat('/etc/RAW'), 'raw ${NAME}\n');
    assert.equal(cat('/opt/plain/sub/x.txt'), 'x\n');
    assert.equal(cat('/opt/packed/sub/x.txt'), 'x\n');
  });

  test('RUN --mount: a cache kept between builds, a tmpfs, a bind of the context read-only; a required secret not sent and ssh named; builder prune empties the cache', () => {
    const m = join(work, 'mounts');
    mkdirSync(join(m, 'files'), { recursive: true });
    writeFileSync(join(m, 'files', 'kept.txt'), 'bound\n');
    writeFileSync(join(m, 'Dockerfile'), [
      `FROM ${BASE}`,
      'RUN --mount=type=cache,target=/cache sh -c "echo run >> /cache/log && wc -l < /cache/log > /count"',
      'RUN --mount=type=tmpfs,target=/scratch sh -c "echo x > /scratch/f && ls /scratch > /tmpfs.txt"',
      'RUN --mount=type=bind,source=files,target=/ctx sh -c "cat /ctx/kept.txt > /bound.txt && (touch /ctx/new 2>/dev/null && echo writable || echo read-only) >> /bound.txt"',
      '',
    ].join('\n'));
    const counts = [1, 2].map(() => {
      const r = d.dockerEnv(['build', '--no-cache', '-t', 'mounts:1', m], env());
      assert.equal(r.code, 0, r.out + r.err);
      return d.docker(['run', '--rm', 'mounts:1', 'cat', '/count']).out.trim();
    });
    assert.deepEqual(counts, ['1', '2'], 'the cache directory outlived the first build');
    assert.equal(d.docker(['run', '--rm', 'mounts:1', 'cat', '/tmpfs.txt']).out, 'f\n');
    assert.equal(d.docker(['run', '--rm', 'mounts:1', 'ls', '-A', '/scratch']).out, '', 'what the tmpfs held is not in the image');
    assert.equal(d.docker(['run', '--rm', 'mounts:1', 'cat', '/bound.txt']).out, 'bound\nread-only\n');
    assert.equal(d.docker(['run', '--rm', 'mounts:1', 'ls', '/cache']).out, '', 'nor what the cache held');
    // docker's classic API carries no secrets: one required is named (berth build's --secret: the test after)
    writeFileSync(join(m, 'Dockerfile'), `FROM ${BASE}\nRUN --mount=type=secret,id=token,required=true cat /run/secrets/token\n`);
    assert.match(d.dockerEnv(['build', m], env()).err, /secret token not provided \(berth build --secret id=token,src=FILE\)/);
    writeFileSync(join(m, 'Dockerfile'), `FROM ${BASE}\nRUN --mount=type=ssh true\n`);
    assert.match(d.dockerEnv(['build', m], env()).err, /type=ssh is not served: the classic build API cannot carry an ssh agent/);
    assert.equal(d.docker(['builder', 'prune', '-f']).code, 0);
    writeFileSync(join(m, 'Dockerfile'), `FROM ${BASE}\nRUN --mount=type=cache,target=/cache sh -c "echo run >> /cache/log && wc -l < /cache/log > /count"\n`);
    assert.equal(d.dockerEnv(['build', '--no-cache', '-t', 'mounts:2', m], env()).code, 0);
    assert.equal(d.docker(['run', '--rm', 'mounts:2', 'cat', '/count']).out.trim(), '1', 'builder prune emptied the cache mount');
  });

  test('berth build --secret: RUN --mount=type=secret reads it (from a file or the environment, at /run/secrets/ID or a target, its mode); it is in no layer, no history, no cache key; a missing file is named', () => {
    const m = join(work, 'secrets');
    mkdirSync(m, { recursive: true });
    writeFileSync(join(work, 'token.txt'), 's3cr3t-value-from-file');
    writeFileSync(join(m, 'Dockerfile'), [
      `FROM ${BASE}`,
      'RUN --mount=type=secret,id=token sh -c "wc -c < /run/secrets/token > /token-len; stat -c %a /run/secrets/token > /token-mode; (echo x > /run/secrets/token) 2>/dev/null || echo read-only > /token-ro"',
      'RUN --mount=type=secret,id=api,target=/etc/api.key,mode=0440 sh -c "wc -c < /etc/api.key > /api-len; stat -c %a /etc/api.key > /api-mode"',
      '',
    ].join('\n'));
    const r = d.berth(['build', '-t', 'secrets:1', '--secret', `id=token,src=${join(work, 'token.txt')}`, '--secret', 'id=api,env=BERTH_TEST_API_KEY', m], '', 60000, { ...process.env, BERTH_TEST_API_KEY: 'env-secret-1234' });
    assert.equal(r.code, 0, r.out + r.err);
    const run = (cmd: string) => d.docker(['run', '--rm', 'secrets:1', 'sh', '-c', cmd]).out;
    assert.equal(run('cat /token-len /token-mode /token-ro /api-len /api-mode'), '22\n400\nread-only\n15\n440\n');
    assert.equal(run('ls -A /run; ls /etc/api.key 2>&1 | grep -c "No such"'), '1\n', 'the mountpoints it made are gone');
    const saved = spawnSync(dockerBin, ['save', 'secrets:1'], { env: d.env(), maxBuffer: 1 << 28 }).stdout as Buffer;
    assert.ok(saved.length > 0 && !saved.includes('s3cr3t-value') && !saved.includes('env-secret-1234'), 'no value in the saved image');
    const cached = d.berth(['build', '-t', 'secrets:1', '--secret', 'id=token,src=' + join(work, 'token.txt'), '--secret', 'id=api,env=BERTH_TEST_API_KEY', m], '', 60000, { ...process.env, BERTH_TEST_API_KEY: 'another value' });
    assert.equal((cached.out.match(/Using cache/g) ?? []).length, 2, 'a secret\'s value is no part of a step\'s key (as BuildKit)');
    const missing = d.berth(['build', '--secret', 'id=token,src=/nonexistent/token', m]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.err, /--secret: token: cannot read \/nonexistent\/token: ENOENT/);
  });

  test('RUN --mount=type=bind from a stage and from an image: the source read there, read-only, and not in the layer', () => {
    const m = join(work, 'bindfrom');
    mkdirSync(m, { recursive: true });
    writeFileSync(join(m, 'Dockerfile'), [
      `FROM ${BASE} AS builder`, 'RUN mkdir -p /out && echo made-in-builder > /out/file',
      `FROM ${BASE}`,
      'RUN --mount=type=bind,from=builder,source=/out,target=/in sh -c "cat /in/file > /copied && (touch /in/x 2>/dev/null && echo writable || echo read-only) >> /copied"',
      `RUN --mount=type=bind,from=${BASE},source=/bin/busybox,target=/bb sh -c "test -f /bb && echo image-bound >> /copied"`,
      '',
    ].join('\n'));
    const r = d.dockerEnv(['build', '-t', 'bindfrom:1', m], env());
    assert.equal(r.code, 0, r.out + r.err);
    assert.equal(d.docker(['run', '--rm', 'bindfrom:1', 'cat', '/copied']).out, 'made-in-builder\nread-only\nimage-bound\n');
    assert.equal(d.docker(['run', '--rm', 'bindfrom:1', 'ls', '-A', '/in']).out, '');
    assert.equal(d.docker(['ps', '-aq']).out, '', 'the source containers are gone');
  });

  test('ADD of a URL (a server on the loopback, in a process of its own): the file, 0600, its --checksum checked; a mismatch and a 404 named', async (t) => {
    const served = join(work, 'served');
    mkdirSync(served, { recursive: true });
    writeFileSync(join(served, 'remote.txt'), 'from the server\n');
    const port = 18500 + (process.pid % 400);
    const server = spawn('python3', ['-m', 'http.server', '--bind', '127.0.0.1', String(port)], { cwd: served, stdio: 'ignore' });
    t.after(() => { server.kill(); });
    for (let i = 0; i < 50 && spawnSync('curl', ['-sf', `http://127.0.0.1:${port}/remote.txt`]).status !== 0; i++) await new Promise((r) => setTimeout(r, 100));
    const sum = createHash('sha256').update('from the server\n').digest('hex');
    const a = join(work, 'addurl');
    mkdirSync(a, { recursive: true });
    writeFileSync(join(a, 'Dockerfile'), `FROM ${BASE}\nADD --checksum=sha256:${sum} http://127.0.0.1:${port}/remote.txt /srv/\nADD http://127.0.0.1:${port}/remote.txt /srv/renamed.txt\n`);
    const r = d.dockerEnv(['build', '-t', 'addurl:1', a], env());
    assert.equal(r.code, 0, r.out + r.err);
    assert.equal(d.docker(['run', '--rm', 'addurl:1', 'cat', '/srv/remote.txt', '/srv/renamed.txt']).out, 'from the server\nfrom the server\n');
    assert.equal(d.docker(['run', '--rm', 'addurl:1', 'stat', '-c', '%a %u', '/srv/remote.txt']).out, '600 0\n');
    writeFileSync(join(a, 'Dockerfile'), `FROM ${BASE}\nADD --checksum=sha256:${'0'.repeat(64)} http://127.0.0.1:${port}/remote.txt /srv/\n`);
    assert.match(d.dockerEnv(['build', a], env()).err, new RegExp(`digest mismatch: got sha256:${sum}, expected sha256:0{64}`));
    writeFileSync(join(a, 'Dockerfile'), `FROM ${BASE}\nADD http://127.0.0.1:${port}/missing.txt /srv/\n`);
    assert.match(d.dockerEnv(['build', a], env()).err, /missing\.txt: the server answered 404/);
  });

  test('stages that do not need each other build at the same time, and their messages still come in the Dockerfile\'s order', () => {
    const par = join(work, 'parallel');
    mkdirSync(par, { recursive: true });
    writeFileSync(join(par, 'Dockerfile'), [
      // the machine's uptime (hundredths of a second; no namespace changes it) when each RUN starts and ends
      `FROM ${BASE} AS a`, 'RUN cut -d" " -f1 /proc/uptime > /start && sleep 1 && cut -d" " -f1 /proc/uptime > /end',
      `FROM ${BASE} AS b`, 'RUN cut -d" " -f1 /proc/uptime > /start && sleep 1 && cut -d" " -f1 /proc/uptime > /end',
      `FROM ${BASE}`, 'COPY --from=a /start /a.start', 'COPY --from=a /end /a.end', 'COPY --from=b /start /b.start', 'COPY --from=b /end /b.end', '',
    ].join('\n'));
    const r = d.dockerEnv(['build', '--no-cache', '-t', 'par:1', par], env());
    assert.equal(r.code, 0, r.out + r.err);
    const t = (f: string) => Number(d.docker(['run', '--rm', 'par:1', 'cat', f]).out.trim());
    assert.ok(t('/b.start') < t('/a.end') && t('/a.start') < t('/b.end'), 'the two RUNs overlapped');
    const steps = [...r.out.matchAll(/^Step (\d+)\/9 /gm)].map((m) => Number(m[1]));
    assert.deepEqual(steps, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test('config instructions as dockerd 20.10 writes them (config and history); ONBUILD triggers run at FROM; COPY --chown by name; stderr of a RUN shown apart', () => {
    const c2 = join(work, 'conf');
    mkdirSync(c2, { recursive: true });
    writeFileSync(join(c2, 'f.txt'), 'f\n');
    writeFileSync(join(c2, 'Dockerfile'), [
      `FROM ${BASE}`,
      'RUN echo "app:x:1000:1000::/:/bin/sh" >> /etc/passwd && echo "app:x:1000:" >> /etc/group',
      'ONBUILD RUN echo triggered > /trig',
      '',
    ].join('\n'));
    assert.equal(d.dockerEnv(['build', '-t', 'onbase:1', c2], env()).code, 0);
    writeFileSync(join(c2, 'Dockerfile'), [
      'FROM onbase:1',
      'COPY --chown=app:app f.txt /home/f.txt',
      'USER 1000:1000',
      'HEALTHCHECK --interval=5s CMD true',
      'STOPSIGNAL SIGTERM',
      'VOLUME /data',
      'SHELL ["/bin/sh", "-xc"]',
      'RUN echo shell',
      'ENTRYPOINT ["/bin/sh"]',
      '',
    ].join('\n'));
    const r = d.dockerEnv(['build', '-t', 'conf:1', c2], env());
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /# Executing 1 build trigger\n/);
    assert.match(r.out, /\x1b\[91m\+ echo shell\n\x1b\[0m/, 'stderr in docker\'s red, as its stream carries it');
    assert.match(r.out, /(\n|\x1b\[0m)shell\n/);
    const img = JSON.parse(d.docker(['image', 'inspect', 'conf:1']).out)[0];
    assert.deepEqual(img.Config.Healthcheck, { Test: ['CMD-SHELL', 'true'], Interval: 5000000000 });
    assert.deepEqual(img.Config.Shell, ['/bin/sh', '-xc']);
    assert.deepEqual(img.Config.Volumes, { '/data': {} });
    assert.equal(img.Config.StopSignal, 'SIGTERM');
    assert.equal(img.Config.User, '1000:1000');
    assert.deepEqual(img.Config.Entrypoint, ['/bin/sh']);
    assert.ok(img.Config.Cmd == null, 'a new ENTRYPOINT drops the base\'s CMD');
    assert.ok(!img.Config.OnBuild?.length, 'triggers are not inherited');
    assert.equal(d.docker(['run', '--rm', '--entrypoint', 'cat', 'conf:1', '/trig']).out, 'triggered\n');
    assert.equal(d.docker(['run', '--rm', '--entrypoint', 'stat', 'conf:1', '-c', '%u:%g', '/home/f.txt']).out, '1000:1000\n');
    const history = JSON.parse(`[${d.docker(['history', '--no-trunc', '--format', '{{json .CreatedBy}}', 'conf:1']).out.trim().split('\n').join(',')}]`) as string[];
    assert.deepEqual(history.slice(0, 7), [
      '/bin/sh -xc #(nop)  ENTRYPOINT ["/bin/sh"]',
      '/bin/sh -xc echo shell',
      '/bin/sh -xc #(nop)  SHELL [/bin/sh -xc]',
      '/bin/sh -c #(nop)  VOLUME [/data]',
      '/bin/sh -c #(nop)  STOPSIGNAL SIGTERM',
      '/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "true"] "5s" "0s" "0s" \'\\x00\'}',
      '/bin/sh -c #(nop)  USER 1000:1000',
    ]);
  });

  test('a failing RUN gives its output and exit code; a missing COPY source and an unknown instruction are named; BuildKit\'s API is refused by name', async () => {
    const bad = join(work, 'bad');
    mkdirSync(bad, { recursive: true });
    writeFileSync(join(bad, 'Dockerfile'), `FROM ${BASE}\nRUN echo about to fail && exit 3\n`);
    const r = d.dockerEnv(['build', bad], env());
    assert.notEqual(r.code, 0);
    assert.match(r.out, /about to fail/);
    assert.match(r.err, /The command '\/bin\/sh -c echo about to fail && exit 3' returned a non-zero code: 3/);
    writeFileSync(join(bad, 'Dockerfile'), `FROM ${BASE}\nCOPY nothere.txt /x\n`);
    assert.match(d.dockerEnv(['build', bad], env()).err, /nothere\.txt: not found/);
    writeFileSync(join(bad, 'Dockerfile'), `FROM ${BASE}\nFROBNICATE x\n`);
    assert.match(d.dockerEnv(['build', bad], env()).err, /Dockerfile:2.*unknown instruction: FROBNICATE/);
    writeFileSync(join(bad, 'Dockerfile'), `FROM ${BASE}\nCOPY ../../etc/passwd /x\n`);
    assert.match(d.dockerEnv(['build', bad], env()).err, /forbidden path outside the build context/);
    // answered before any body is read, so the request goes by curl (a client that may still be sending gets EPIPE otherwise)
    const ask = (path: string) => spawnSync('curl', ['-s', '-w', '\n%{http_code}', '--unix-socket', d.sock, '-X', 'POST', `http://berth${path}`], { encoding: 'utf8' }).stdout.split('\n');
    const [v2body, v2code] = ask('/build?version=2');
    assert.equal(v2code, '400');
    assert.match(JSON.parse(v2body!).message, /classic builder/);
    assert.equal(ask('/session')[1], '400');
    assert.equal(d.docker(['ps', '-aq']).out, '', 'no build container is left');
  });

  /** Starts a build of a context whose RUN sleeps, and resolves once that step's container runs; the request, to end as the test wants. */
  const sleepingBuild = async (name: string) => {
    const dir = join(work, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${BASE}\nRUN echo ${name} > /done\nRUN sleep 60\n`);
    const req = request({ socketPath: d.sock, method: 'POST', path: `/build?t=${name}:1`, headers: { 'content-type': 'application/x-tar' }, agent: false }); // a connection of its own: a kept-alive one may be closed under it
    let answer = '';
    const running = new Promise<void>((res, rej) => {
      req.on('response', (m) => { m.on('data', (c) => { answer += c; if (/Step 3\/3[^]*Running in/.test(answer)) res(); }); m.on('end', () => rej(new Error(`the build ended: ${answer}`))); m.on('error', () => {}); });
      req.on('error', (e) => setTimeout(() => rej(new Error(`${e.message}; the answer: ${answer}`)), 200));
    });
    req.end(tarOf(dir));
    await running;
    return req;
  };
  const noStepContainer = async () => {
    for (let i = 0; i < 50 && d.docker(['ps', '-aq']).out; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(d.docker(['ps', '-aq']).out, '', 'no build container is left');
  };

  test('a client that hangs up mid-build stops it: the step\'s container goes, no image is tagged; the next build reuses what was complete', async () => {
    const req = await sleepingBuild('hangup');
    req.destroy();
    await noStepContainer();
    assert.equal(d.docker(['images', '-q', 'hangup:1']).out, '');
    writeFileSync(join(work, 'hangup', 'Dockerfile'), `FROM ${BASE}\nRUN echo hangup > /done\nRUN true\n`);
    const r = d.dockerEnv(['build', '-t', 'hangup:1', join(work, 'hangup')], env());
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Step 2\/3 : RUN echo hangup > \/done\n ---> Using cache/);
  });

  test('kill -9 of berthd mid-build: the restarted daemon removes the step\'s container, the cache is whole, and the next build works', async () => {
    const req = await sleepingBuild('crashed');
    req.on('error', () => {});
    await d.crash();
    await d.start();
    await noStepContainer();
    writeFileSync(join(work, 'crashed', 'Dockerfile'), `FROM ${BASE}\nRUN echo crashed > /done\nRUN true\n`);
    const r = d.dockerEnv(['build', '-t', 'crashed:1', join(work, 'crashed')], env());
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Step 2\/3 : RUN echo crashed > \/done\n ---> Using cache/);
    assert.equal(d.docker(['run', '--rm', 'crashed:1', 'cat', '/done']).out, 'crashed\n');
  });

  test('berth build: the same build through berth\'s own CLI: plain lines when not on a terminal, a line per step with CACHED or its time with --progress=tty, -q, --iidfile, a failing RUN\'s code', () => {
    const plain = d.berth(['build', '-t', 'bycli:1', '--build-arg', 'GREETING=hi', ctx]);
    assert.equal(plain.code, 0, plain.err);
    assert.match(plain.out, /Step 1\/14 : ARG BASE=/);
    assert.match(plain.out, /Successfully tagged bycli:1\n/);
    const tty = d.berth(['build', '--progress=tty', '-t', 'bycli:1', '--build-arg', 'GREETING=hi', ctx]);
    assert.equal(tty.code, 0, tty.err);
    assert.match(tty.out, /\[ 6\/14\] RUN echo "\$GREETING from \$\(cat greet.txt\)" > \/src\/out.txt +CACHED\n/);
    const iid = join(work, 'iid');
    const q = d.berth(['build', '-q', '--iidfile', iid, '--target', 'builder', ctx]);
    assert.match(q.out, /^sha256:[0-9a-f]{64}\n$/);
    assert.equal(readFileSync(iid, 'utf8'), q.out.trim());
    // stdin: a Dockerfile alone, a context tar, and a Dockerfile beside a context directory
    const sc = join(work, 'stdinctx');
    mkdirSync(sc, { recursive: true });
    writeFileSync(join(sc, 'hello.txt'), 'from stdin\n');
    writeFileSync(join(sc, 'Dockerfile'), `FROM ${BASE}\nCOPY hello.txt /hello.txt\nCMD ["cat", "/hello.txt"]\n`);
    assert.equal(d.berth(['build', '-q', '-t', 'stdin:1', '-'], `FROM ${BASE}\nRUN echo from-stdin > /s\n`).code, 0);
    assert.equal(d.docker(['run', '--rm', 'stdin:1', 'cat', '/s']).out, 'from-stdin\n');
    const viaTar = spawnSync(BERTH_CLI, ['--data-root', d.dataRoot, '-H', `unix://${d.sock}`, 'build', '-q', '-t', 'stdin:2', '-'], { input: tarOf(sc), encoding: 'utf8' });
    assert.equal(viaTar.status, 0, viaTar.stderr);
    assert.equal(d.docker(['run', '--rm', 'stdin:2']).out, 'from stdin\n');
    assert.equal(d.berth(['build', '-q', '-t', 'stdin:3', '-f', '-', sc], `FROM ${BASE}\nCOPY hello.txt /h\nCMD ["cat", "/h"]\n`).code, 0);
    assert.equal(d.docker(['run', '--rm', 'stdin:3']).out, 'from stdin\n');
    const bad = join(work, 'badcli');
    mkdirSync(bad, { recursive: true });
    writeFileSync(join(bad, 'Dockerfile'), `FROM ${BASE}\nRUN exit 7\n`);
    const r = d.berth(['build', bad]);
    assert.equal(r.code, 7);
    assert.match(r.err, /returned a non-zero code: 7/);
  });

  test('docker-compose: build: in the compose file, then up runs what it built; down leaves nothing', () => {
    const proj = join(work, 'composed');
    mkdirSync(proj, { recursive: true });
    writeFileSync(join(proj, 'Dockerfile'), `FROM ${BASE}\nARG WORD=plain\nRUN echo "built by compose: $WORD" > /msg\nCMD ["sh", "-c", "cat /msg; sleep 30"]\n`);
    writeFileSync(join(proj, 'docker-compose.yml'), 'version: "3"\nservices:\n  app:\n    build:\n      context: .\n      args:\n        WORD: composed\n    image: composed:1\n');
    const compose = (args: string[]) => {
      const r = spawnSync('docker-compose', ['-p', 'berthbuild', ...args], { cwd: proj, encoding: 'utf8', env: d.env(), timeout: 120000 });
      return { out: r.stdout, err: r.stderr, code: r.status };
    };
    try {
      const b = compose(['build']);
      assert.equal(b.code, 0, b.out + b.err);
      assert.equal(compose(['up', '-d']).code, 0);
      let logs = '';
      for (let i = 0; i < 50 && !/built by compose/.test(logs); i++) { spawnSync('sleep', ['0.1']); logs = compose(['logs', '--no-color']).out; }
      assert.match(logs, /built by compose: composed/);
    } finally {
      assert.equal(compose(['down']).code, 0);
    }
    assert.equal(d.docker(['ps', '-aq']).out, '');
  });

  test('docker-py (Debian\'s python3-docker, docker-compose\'s own) images.build: the image, its logs, a build arg, a failure as BuildError', () => {
    const py = join(work, 'dockerpy');
    mkdirSync(py, { recursive: true });
    writeFileSync(join(py, 'Dockerfile'), `FROM ${BASE}\nARG WHO=nobody\nRUN echo "built for $WHO" > /who\nCMD ["cat", "/who"]\n`);
    const script = [
      'import docker, sys',
      `c = docker.DockerClient(base_url="unix://${d.sock}")`,
      `img, logs = c.images.build(path=${JSON.stringify(py)}, tag="dockerpy:1", buildargs={"WHO": "docker-py"}, rm=True)`,
      'print("id", img.id, "tags", img.tags)',
      'print("steps", sum(1 for l in logs if "stream" in l and l["stream"].startswith("Step ")))',
      `open(${JSON.stringify(join(py, 'Dockerfile'))}, "w").write("FROM ${BASE}\\nRUN exit 4\\n")`,
      'try:',
      `    c.images.build(path=${JSON.stringify(py)})`,
      'except docker.errors.BuildError as e:',
      '    print("failed", e.msg)',
    ].join('\n');
    const r = spawnSync('/usr/bin/python3', ['-c', script], { encoding: 'utf8', timeout: 120000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^id sha256:[0-9a-f]{64} tags \['dockerpy:1'\]\nsteps 4\nfailed The command '\/bin\/sh -c exit 4' returned a non-zero code: 4\n$/);
    assert.equal(d.docker(['run', '--rm', 'dockerpy:1']).out, 'built for docker-py\n');
  });

  test('dockerode buildImage from a tar stream', async () => {
    const docker = new Docker({ socketPath: d.sock });
    const small = join(work, 'small');
    mkdirSync(small, { recursive: true });
    writeFileSync(join(small, 'Dockerfile'), `FROM ${BASE}\nCOPY hello.txt /hello.txt\nCMD ["cat", "/hello.txt"]\n`);
    writeFileSync(join(small, 'hello.txt'), 'from dockerode\n');
    const stream = await docker.buildImage({ context: small, src: ['Dockerfile', 'hello.txt'] }, { t: 'dode:1' });
    const out = await new Promise<unknown[]>((res, rej) => docker.modem.followProgress(stream, (e: Error | null, r: unknown[]) => (e ? rej(e) : res(r))));
    assert.ok(out.some((m) => (m as { aux?: { ID?: string } }).aux?.ID?.startsWith('sha256:')), JSON.stringify(out));
    assert.equal(d.docker(['run', '--rm', 'dode:1']).out, 'from dockerode\n');
  });
});
