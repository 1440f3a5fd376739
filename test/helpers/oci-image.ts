// Images that berth did not write: OCI layouts made here from tars, pushed to
// a registry by skopeo. Also a private docker-registry on loopback.
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export interface Blob { digest: string; size: number; mediaType: string }

function putBlob(dir: string, data: Buffer, mediaType: string): Blob {
  const hex = sha(data);
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dir, 'blobs', 'sha256', hex), data);
  return { digest: `sha256:${hex}`, size: data.length, mediaType };
}

/** A tar of `root` made by GNU tar, sorted and with fixed times, so it is the same every run. */
export function tarOf(root: string): Buffer {
  return execFileSync('tar', ['--sort=name', '--mtime=2024-01-01 00:00Z', '--numeric-owner', '--xattrs', '--xattrs-include=*', '-C', root, '-cf', '-', '.'], { maxBuffer: 1 << 30 });
}

export interface ImageSpec { layers: Buffer[]; arch?: string; cmd?: string[]; env?: string[] }

/** Writes one image (manifest + config + gzip layers) into an OCI layout; returns the manifest descriptor. */
export function addImage(dir: string, spec: ImageSpec): Blob & { platform: { os: string; architecture: string } } {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const layers = spec.layers.map((t) => putBlob(dir, gzipSync(t, { level: 1 }), 'application/vnd.oci.image.layer.v1.tar+gzip'));
  const config = Buffer.from(JSON.stringify({
    created: '2024-01-01T00:00:00Z', architecture: spec.arch ?? 'amd64', os: 'linux',
    config: { Env: spec.env ?? ['PATH=/bin'], Cmd: spec.cmd ?? ['sh'] },
    rootfs: { type: 'layers', diff_ids: spec.layers.map((t) => `sha256:${sha(t)}`) },
    history: spec.layers.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `layer ${i}` })),
  }));
  const cfg = putBlob(dir, config, 'application/vnd.oci.image.config.v1+json');
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: cfg, layers }));
  return { ...putBlob(dir, manifest, 'application/vnd.oci.image.manifest.v1+json'), platform: { os: 'linux', architecture: spec.arch ?? 'amd64' } };
}

/** index.json of the layout: one image, or a multi-arch index of several. */
export function writeIndex(dir: string, tag: string, manifests: ReturnType<typeof addImage>[], multi: boolean): void {
  let top: Blob = manifests[0]!;
  if (multi) {
    const idx = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
    top = putBlob(dir, idx, 'application/vnd.oci.image.index.v1+json');
  }
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ ...top, annotations: { 'org.opencontainers.image.ref.name': tag } }] }));
}

export function skopeo(args: string[]): string {
  const r = spawnSync('skopeo', ['--insecure-policy', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`skopeo ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => res(p)); });
  });
}

/** Debian's docker-registry on 127.0.0.1, with its own storage; `htpasswd` turns on basic auth. */
export async function startRegistry(dir: string, opts: { htpasswd?: string; token?: { realm: string; service: string; issuer: string; rootcertbundle: string } } = {}): Promise<{ addr: string; proc: ChildProcess; stop: () => Promise<void> }> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const t = opts.token;
  const auth = opts.htpasswd ? `auth:\n  htpasswd:\n    realm: berth-test\n    path: ${opts.htpasswd}\n`
    : t ? `auth:\n  token:\n    realm: ${t.realm}\n    service: ${t.service}\n    issuer: ${t.issuer}\n    rootcertbundle: ${t.rootcertbundle}\n` : '';
  writeFileSync(join(dir, 'config.yml'), `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}`);
  const proc = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr!.on('data', (d) => { log += d; });
  const addr = `127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try { const r = await fetch(`http://${addr}/v2/`); if (r.status === 200 || r.status === 401) break; } catch { /* not yet */ }
    if (proc.exitCode !== null) throw new Error(`docker-registry exited: ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    addr, proc,
    stop: async () => {
      if (proc.exitCode === null) { const gone = new Promise((r) => proc.once('exit', r)); proc.kill('SIGTERM'); await gone; }
    },
  };
}

export function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8'));
}
