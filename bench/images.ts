// Image benchmark: pull of a multi-layer Debian image from a local registry
// (docker-registry on loopback) by berth, docker, podman and skopeo (which
// copies without unpacking), and push by berth and docker. Side by side in
// one run; medians of RUNS runs; table in bench/results/images.md.
// Run: node dist/bench/images.js   (as root; needs ../shared/bench/setup-anchors.sh
// to have built the Debian rootfs and started dockerd; it is run if not)
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync, statSync, readFileSync, linkSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { addImage, writeIndex, tarOf, skopeo, startRegistry } from '../test/helpers/oci-image.js';
import { median } from './lib.js';
import { PrivateBerthd, dockerBin } from '../test/helpers/berthd.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RUNS = Number(process.env.RUNS ?? 5);
const ANCHORS = process.env.ANCHORS_WORK ?? '/tmp/anchors';
const MiB = 1024 * 1024;

function timed(cmd: string, args: string[], env?: NodeJS.ProcessEnv): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: env ?? process.env, maxBuffer: 1 << 26 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return ms;
}
const quiet = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' });
/**
 * This VM's ext4 is mounted with `discard`: after a tree is deleted, creating
 * files waits on the discards, which makes a run after a cleanup 2-5 times
 * slower at random. Every engine deletes its previous pull, so each run waits
 * for the disk to be quiet first (not timed).
 */
function settle(): void {
  spawnSync('sync');
  const busy = () => readFileSync('/proc/diskstats', 'utf8').split('\n').reduce((a, l) => a + Number(l.trim().split(/\s+/)[11] ?? 0), 0);
  for (let i = 0; i < 100 && busy() > 0; i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000);
}

/** berth's pulls (its own CLI; docker's CLI against berthd) against the floor and docker, and its zstd pull against its gzip pull. */
function ratioLine(rows: [string, number[]][]): string {
  const m = (prefix: string) => { const r = rows.find(([n]) => n === prefix || n.startsWith(`${prefix} (`)); return r ? median(r[1]) : undefined; };
  const berth = m('berth pull')!, served = m('docker pull against berthd')!, handed = m('berth pull with berthd running')!, zstd = m('berth pull of the same image with zstd layers')!, floor = m('floor: skopeo copy, then tar -xzf of every layer in parallel')!, docker = m('docker pull');
  const vs = (x: number) => `${(x / floor).toFixed(2)} × the floor, ${docker ? (x / docker).toFixed(2) : '–'} × docker pull`;
  return `berth pull (no daemon): ${vs(berth)}; docker pull against berthd: ${vs(served)}; berth pull with berthd running: ${vs(handed)}; berth zstd pull / berth gzip pull: ${(zstd / berth).toFixed(2)} ×.`;
}

async function main() {
  const debianTar = join(ANCHORS, 'tars', 'debian.tar');
  if (!existsSync(debianTar) || quiet('docker', ['info']).status !== 0) {
    execFileSync('bash', [join(REPO, '..', 'shared', 'bench', 'setup-anchors.sh')], { stdio: 'inherit' });
  }
  const work = mkdtempSync(join(tmpdir(), 'berth-bench-images-'));
  chmodSync(work, 0o755);
  const reg = await startRegistry(join(work, 'registry'));
  const daemons: PrivateBerthd[] = [];
  try {
    // three layers: the Debian minbase, 2000 small files with hardlinks, and deletions (whiteouts, an opaque dir)
    const l2 = join(work, 'l2');
    mkdirSync(join(l2, 'srv', 'many'), { recursive: true });
    for (let i = 0; i < 2000; i++) writeFileSync(join(l2, 'srv', 'many', `f${i}`), `file ${i}\n`.repeat(1 + (i % 50)));
    linkSync(join(l2, 'srv', 'many', 'f1'), join(l2, 'srv', 'hardlink-to-f1'));
    const l3 = join(work, 'l3');
    mkdirSync(join(l3, 'usr', 'share', 'doc'), { recursive: true });
    writeFileSync(join(l3, 'usr', 'share', 'doc', '.wh..wh..opq'), '');
    mkdirSync(join(l3, 'srv', 'many'), { recursive: true });
    for (let i = 0; i < 100; i++) writeFileSync(join(l3, 'srv', 'many', `.wh.f${i}`), '');
    // Every run pulls an image no engine has seen: each of its layers has a
    // file of its own (setup-anchors.sh gave docker and podman the plain
    // Debian layer). So no engine deletes anything between runs: ext4 makes
    // new files several times slower for minutes after a large delete (its
    // inode allocator skips recently freed inodes), and docker and podman
    // would pay for their own rmi. All is deleted at the end.
    const variants = RUNS + 1;
    const refOf = (i: number, zstd = false) => `${reg.addr}/bench/debian:${zstd ? 'zstd' : 'gzip'}-${i}`;
    const layerDigests: string[][] = [];
    let compressed = 0, uncompressed = 0;
    for (let i = 0; i < variants; i++) {
      const nonce = `${process.pid}-${Date.now()}-${i}\n`;
      const base = join(work, `debian-${i}.tar`);
      execFileSync('cp', [debianTar, base]);
      writeFileSync(join(work, 'nonce'), nonce);
      execFileSync('tar', ['-rf', base, '-C', work, './nonce']);
      writeFileSync(join(l2, 'srv', 'nonce'), nonce);
      writeFileSync(join(l3, 'srv', 'nonce'), nonce);
      const layout = join(work, `layout-${i}`);
      const img = addImage(layout, { layers: [readFileSync(base), tarOf(l2), tarOf(l3)], env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], cmd: ['bash'] });
      writeIndex(layout, 'bench', [img], false);
      skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:bench`, `docker://${refOf(i)}`]);
      // the same image with zstd layers (OCI +zstd), for berth's pull of each
      skopeo(['copy', '--dest-tls-verify=false', '--dest-compress-format', 'zstd', `oci:${layout}:bench`, `docker://${refOf(i, true)}`]);
      const manifest = JSON.parse(readFileSync(join(layout, 'blobs', 'sha256', img.digest.slice(7)), 'utf8')) as { layers: { size: number; digest: string }[] };
      layerDigests.push(manifest.layers.map((l) => l.digest));
      compressed = manifest.layers.reduce((a, l) => a + l.size, 0);
      uncompressed = statSync(base).size;
    }

    const berth = join(REPO, 'bin', 'berth');
    const rows: [string, number[]][] = [];
    // the engines take turns (run i of each, then run i+1), so that how the disk drifts over the bench falls on all alike
    const engines: [string, string, (i: number) => string[]][] = [];
    const engine = (name: string, cmd: string, args: (i: number) => string[]) => { engines.push([name, cmd, args]); };
    const berthRoot = (i: number) => join(work, `berth-${i}`);
    // the floor: the blobs fetched (skopeo), then every layer untarred at once (gzip and tar, no fsync)
    const floorDir = (i: number) => join(work, `floor-${i}`);
    const untar = (i: number) => layerDigests[i]!
      .map((d, j) => `mkdir ${floorDir(i)}-${j} && tar -xzf ${floorDir(i)}/blobs/sha256/${d.slice(7)} -C ${floorDir(i)}-${j} &`).join(' ');
    engine('floor: skopeo copy, then tar -xzf of every layer in parallel', 'sh',
      (i) => ['-c', `skopeo --insecure-policy copy -q --src-tls-verify=false docker://${refOf(i)} oci:${floorDir(i)}:x && ${untar(i)} wait`]);
    engine('skopeo copy to oci: (download only, no unpack)', 'skopeo', (i) => ['--insecure-policy', 'copy', '-q', '--src-tls-verify=false', `docker://${refOf(i)}`, `oci:${join(work, `sk-${i}`)}:x`]);
    engine('berth pull (no daemon: the CLI pulls; download + unpack, 3 layers in parallel)', berth, (i) => ['--data-root', berthRoot(i), 'pull', '-q', refOf(i)]);
    // BASELINE=/path/to/another/berth/checkout (built) adds its no-daemon pull, for a side-by-side look at a change
    const baseline = process.env.BASELINE;
    if (baseline) engine('baseline berth pull (no daemon, BASELINE checkout)', join(baseline, 'bin', 'berth'), (i) => ['--data-root', join(work, `base-${i}`), 'pull', '-q', refOf(i)]);
    engine('berth pull of the same image with zstd layers', berth, (i) => ['--data-root', join(work, `berth-zstd-${i}`), 'pull', '-q', refOf(i, true)]);
    // berthd serves docker's own CLI (the same client as the docker row); another serves `berth pull`, which has it pull
    for (const d of [new PrivateBerthd(), new PrivateBerthd()]) { daemons.push(d); await d.start(); }
    const [served, handing] = daemons as [PrivateBerthd, PrivateBerthd];
    engine('docker pull against berthd (the docker CLI)', dockerBin, (i) => ['-H', `unix://${served.sock}`, 'pull', '-q', refOf(i)]);
    engine('berth pull with berthd running (berthd pulls; the CLI draws its progress)', berth, (i) => ['-H', `unix://${handing.sock}`, 'pull', '-q', refOf(i)]);
    const dockerOk = quiet('docker', ['info']).status === 0;
    if (dockerOk) engine('docker pull', 'docker', (i) => ['pull', '-q', refOf(i)]);
    const podmanOk = quiet('podman', ['version']).status === 0;
    if (podmanOk) engine('podman pull', 'podman', (i) => ['pull', '-q', '--tls-verify=false', refOf(i)]);
    // ONLY=berth,floor runs the rows whose names contain one of these words (for a quick look; the table needs all)
    const only = process.env.ONLY?.split(',');
    if (only) engines.splice(0, engines.length, ...engines.filter(([n]) => only.some((w) => n.includes(w))));
    for (const [name] of engines) rows.push([name, []]);
    for (let i = 0; i < RUNS + 1; i++) {
      engines.forEach(([, cmd, args], k) => {
        settle();
        const t = timed(cmd, args(i));
        if (i > 0) rows[k]![1].push(t);
      });
    }
    if (only) { // a quick look: no push, no table
      for (const [n, xs] of rows) process.stdout.write(`${n}: median ${(median(xs) / 1000).toFixed(2)} s (${xs.map((x) => (x / 1000).toFixed(2)).join(' ')})\n`);
      return;
    }
    const ref = refOf(RUNS);

    // push: into a fresh registry each time, so nothing is already there
    const pushRows: [string, number[]][] = [];
    for (const [name, push] of [
      ['berth push', (target: string) => { execFileSync(berth, ['--data-root', berthRoot(RUNS), 'tag', ref, target]); return timed(berth, ['--data-root', berthRoot(RUNS), 'push', '-q', target]); }],
      ...(dockerOk ? [['docker push', (target: string) => { execFileSync('docker', ['pull', '-q', ref]); execFileSync('docker', ['tag', ref, target]); return timed('docker', ['push', '-q', target]); }]] as const : []),
    ] as [string, (t: string) => number][]) {
      const xs: number[] = [];
      for (let i = 0; i < RUNS + 1; i++) {
        const r2 = await startRegistry(join(work, `push-${name.split(' ')[0]}-${i}`));
        try { const t = push(`${r2.addr}/pushed/debian:${i}`); if (i > 0) xs.push(t); } finally { await r2.stop(); }
      }
      pushRows.push([name, xs]);
    }

    const sk = median(rows.find(([n]) => n.startsWith('skopeo'))![1]);
    const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    const lines = [
      `# Image benchmark (${new Date().toISOString()})`, '',
      `Pull of a 3-layer Debian bookworm minbase image (${(compressed / MiB).toFixed(1)} MiB compressed, Debian layer ${(uncompressed / MiB).toFixed(1)} MiB uncompressed; + 2000 small files with a hardlink; + whiteouts and an opaque dir) from docker-registry on 127.0.0.1. ${RUNS} runs after 1 warm-up, median (min–max). Every run pulls an image no engine has seen (each layer has a file of its own), so nothing is deleted between runs (on ext4, new files are several times slower for minutes after a large delete: its inode allocator skips recently freed inodes); skopeo and berth write into a new directory or data root each run; all is deleted at the end. The engines take turns, run by run. Before each run the disk is let settle (sync, no I/O in flight, 2 s).`,
      `Versions: ${execFileSync('skopeo', ['--version'], { encoding: 'utf8' }).trim()}; ${dockerOk ? execFileSync('docker', ['version', '--format', 'docker {{.Server.Version}}'], { encoding: 'utf8' }).trim() : 'docker missing'}; ${podmanOk ? execFileSync('podman', ['--version'], { encoding: 'utf8' }).trim() : 'podman missing'}; node ${process.version}.`, '',
      '| pull | median | min–max | MiB/s (compressed) | vs skopeo |', '|---|---|---|---|---|',
      ...rows.map(([n, xs]) => `| ${n} | ${fmt(median(xs))} | ${fmt(Math.min(...xs))} – ${fmt(Math.max(...xs))} | ${(compressed / MiB / (median(xs) / 1000)).toFixed(1)} | ${(median(xs) / sk).toFixed(2)} × |`),
      '', `berth unpack throughput (uncompressed bytes written per second of the whole pull, berth pull with no daemon): ${(uncompressed / MiB / (median(rows.find(([n]) => n.startsWith('berth pull ('))![1]) / 1000)).toFixed(1)} MiB/s.`,
      ratioLine(rows), '',
      '| push (to an empty registry) | median | min–max |', '|---|---|---|',
      ...pushRows.map(([n, xs]) => `| ${n} | ${fmt(median(xs))} | ${fmt(Math.min(...xs))} – ${fmt(Math.max(...xs))} |`), '',
    ];
    const text = lines.join('\n');
    mkdirSync(join(REPO, 'bench', 'results'), { recursive: true });
    writeFileSync(join(REPO, 'bench', 'results', 'images.md'), text);
    process.stdout.write(text);
    for (let i = 0; i < variants; i++) {
      if (dockerOk) quiet('docker', ['rmi', '-f', refOf(i)]);
      if (podmanOk) quiet('podman', ['rmi', '-f', refOf(i)]);
    }
    if (dockerOk) quiet('docker', ['image', 'prune', '-f']);
  } finally {
    for (const d of daemons) await d.stop();
    await reg.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
