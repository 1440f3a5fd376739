// The builder's worker in the engine: a RUN step is a container of the
// step's parent image (berth's own runtime, default seccomp profile and
// capabilities), its changes committed as the step's image; a COPY writes
// the selected files into a created container and commits them; a config
// step makes an image with no layer. Images a build makes record their
// parent; the untagged ones with children are its intermediate images.
// The cache maps a step's key to its image, in one file written atomically.
import { chmodSync, chownSync, closeSync, copyFileSync, createReadStream, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, realpathSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createGunzip } from 'node:zlib';
import { join, posix } from 'node:path';
import { build as runBuild, BuildError, type StepRecord, type BuildEvents, type BuildImage, type BuildRequest, type ContainerConfig, type CopySource, type CopyStep, type RunStep, type Worker } from '../build/index.js';
import { closeFd, copyInto, copyTree, deriveImage, withRootDir, type ImageRecord, type ImageStore, type RootDir } from '../image/index.js';
import { writeFileAtomic } from '../util/atomic.js';
import { fsx } from '../util/fsx.js';
import { InvalidInput, NotFound } from '../util/check.js';
import { contentDigest, copyItems, matchSources, sourceEntries, type CopyEntry, type Ignored } from './build-copy.js';
import type { Engine } from './containers.js';
import { readLogs } from './logs.js';

export interface BuildContext {
  /** the unpacked context on the host (its files are the client's: held by fd, never followed out) */
  dir: string;
  ignored: Ignored;
  /** berth build's --secret values, by id (never written to disk but to the exec root's tmpfs, never in a layer or a cache key) */
  secrets?: Map<string, Buffer>;
}

export interface BuildHooks {
  /** pulls `ref` into the store, telling the client as docker's pull does */
  pull(ref: string, say: (line: string) => void): Promise<void>;
}

const SCRATCH = '';

/** The label a build step's container carries. */
const BUILD_STEP_LABEL = 'berth.build';

/** A build step's container outlives only its build: those a crash of berthd cut off go at its start (their images were never made). */
export async function removeBuildSteps(e: Engine): Promise<void> {
  for (const r of e.list().filter((c) => c.Config.Labels?.[BUILD_STEP_LABEL] === 'step')) await e.remove(r.Id, { force: true }).catch(() => {});
}

class EngineWorker implements Worker {
  private readonly cacheFile: string;
  /** a step's key → its image; and what each step (by stage and position) was when it last missed, to say why a next miss missed */
  private cache: Record<string, string> = {};
  private steps: Record<string, StepRecord> = {};

  constructor(private readonly e: Engine, private readonly ctx: BuildContext, private readonly hooks: BuildHooks, private readonly removeIntermediate: boolean, private readonly epoch?: number) {
    this.cacheFile = join(e.dataRoot, 'build-cache.json');
    try { ({ keys: this.cache = {}, steps: this.steps = {} } = JSON.parse(readFileSync(this.cacheFile, 'utf8')) as { keys?: Record<string, string>; steps?: Record<string, StepRecord> }); } catch { /* none yet */ }
  }

  private get store(): ImageStore { return this.e.images(); }

  private record(id: string): ImageRecord | undefined {
    try { return this.store.resolve(id); } catch (err) { if (err instanceof NotFound || err instanceof InvalidInput) return undefined; throw err; }
  }

  private image(rec: ImageRecord): BuildImage { return { id: rec.id, config: (this.store.config(rec).config ?? {}) as ContainerConfig }; }

  async base(ref: string, pull: boolean, say: (line: string) => void): Promise<BuildImage> {
    let rec = pull ? undefined : this.record(ref);
    if (!rec) {
      await this.hooks.pull(ref, say);
      rec = this.record(ref);
      if (!rec) throw new NotFound('FROM', `pull access denied for ${ref}, repository does not exist or may require 'docker login'`);
    }
    return this.image(rec);
  }

  scratch(): BuildImage { return { id: SCRATCH, config: {} }; }

  lastStep(at: string): StepRecord | undefined { return this.steps[at]; }

  noteStep(at: string, rec: StepRecord): void {
    this.steps[at] = rec;
    this.save();
  }

  cached(key: string): BuildImage | undefined {
    const id = this.cache[key];
    const rec = id ? this.record(id) : undefined;
    return rec ? this.image(rec) : undefined;
  }

  remember(key: string, image: BuildImage): void {
    this.cache[key] = image.id;
    this.save();
  }

  private save(): void { writeFileAtomic(this.cacheFile, JSON.stringify({ keys: this.cache, steps: this.steps })); }

  configure(parent: BuildImage, config: ContainerConfig, author: string, createdBy: string): Promise<BuildImage> {
    return this.derive(parent, { config, author, createdBy });
  }

  private async derive(parent: BuildImage, o: { config: ContainerConfig; author?: string; createdBy: string; writeDiff?: Parameters<typeof deriveImage>[2]['writeDiff'] }): Promise<BuildImage> {
    const created = this.epoch === undefined ? undefined : new Date(this.epoch * 1000).toISOString();
    const rec = await deriveImage(this.store, parent.id ? this.store.resolve(parent.id) : undefined, { ...o, config: o.config as never, recordParent: true, created });
    return this.image(rec);
  }

  /** A container of `parent` for a step; the scratch image has none to give, so a COPY onto it gets an empty image first. */
  private async container(parent: BuildImage, config: ContainerConfig, body: Record<string, unknown>): Promise<string> {
    let image = parent.id;
    if (!image) image = (await deriveImage(this.store, undefined, { config: {}, history: false })).id;
    const created = await this.e.create({
      Image: image, Env: config.Env ?? [], WorkingDir: config.WorkingDir ?? '', User: config.User ?? '', Labels: { [BUILD_STEP_LABEL]: 'step' },
      Entrypoint: [], ...body,
    }, null, true); // a step's layer is committed from it (its blob synced), or the step is made again
    return created.Id;
  }

  async run(parent: BuildImage, step: RunStep, config: ContainerConfig, say: (line: string) => void, output: (b: Buffer, stderr: boolean) => void, signal?: AbortSignal): Promise<BuildImage> {
    if (!parent.id) throw new BuildError('RUN on scratch: the image has no shell or files to run (FROM scratch)');
    return this.withFromSources(step.mounts, new Map(), (from) => this.runStep(parent, step, config, from, say, output, signal));
  }

  /**
   * A bind mount from= a stage or an image (the builder gives its image ID):
   * a created container of that image, its root held mounted while the step
   * runs, the source resolved inside it by fd. Each such mount in turn.
   */
  private async withFromSources<T>(specs: string[], from: Map<number, string>, fn: (from: Map<number, string>) => Promise<T>): Promise<T> {
    const i = specs.findIndex((spec, k) => !from.has(k) && /(^|,)from=/.test(spec));
    if (i < 0) return fn(from);
    const o = mountOptions(specs[i]!);
    const image = this.record(o.get('from')!);
    if (!image) throw new NotFound('RUN --mount', `${specs[i]}: no image ${o.get('from')}`);
    const id = await this.container(this.image(image), {}, { Cmd: ['true'] });
    try {
      return await this.e.withFiles(id, async (root) => {
        const f = root.stat(posix.normalize(`/${o.get('source') ?? o.get('src') ?? '.'}`), true);
        if (!f) throw new NotFound('RUN --mount', `${specs[i]}: ${o.get('source') ?? '/'} is not in ${o.get('from')}`);
        try { from.set(i, realpathSync(`/proc/self/fd/${f.fd}`)); } finally { closeFd(f.fd); }
        return this.withFromSources(specs, from, fn);
      });
    } finally {
      await this.e.remove(id, { force: true }).catch(() => {});
    }
  }

  private async runStep(parent: BuildImage, step: RunStep, config: ContainerConfig, from: Map<number, string>, say: (line: string) => void, output: (b: Buffer, stderr: boolean) => void, signal?: AbortSignal): Promise<BuildImage> {
    const scratch: string[] = [];
    try { return await this.runIn(parent, step, config, await this.runMounts(step.mounts, from, scratch), say, output, signal); } finally {
      for (const d of scratch) rmSync(d, { recursive: true, force: true });
    }
  }

  private async runIn(parent: BuildImage, step: RunStep, config: ContainerConfig, { mounts, tmpfs, secrets }: { mounts: Record<string, unknown>[]; tmpfs: Record<string, string>; secrets: string[] }, say: (line: string) => void, output: (b: Buffer, stderr: boolean) => void, signal?: AbortSignal): Promise<BuildImage> {
    const id = await this.container(parent, config, {
      Cmd: step.argv, Env: step.env,
      HostConfig: { NetworkMode: step.network === 'default' ? 'bridge' : step.network, LogConfig: { Type: 'json-file', Config: {} }, Mounts: mounts, Tmpfs: tmpfs },
    });
    say(` ---> Running in ${id.slice(0, 12)}\n`);
    const stop = () => { this.e.kill(id).catch(() => {}); }; // the client went away: the step's process goes now
    signal?.addEventListener('abort', stop, { once: true });
    try {
      const made = secrets.length ? await this.e.withFiles(id, (root) => secrets.flatMap((t) => missingPaths(root, t))) : [];
      await this.e.start(id);
      if (signal?.aborted) stop();
      const r = this.e.get(id);
      for await (const entry of readLogs(r.LogPath, { stdout: true, stderr: true, follow: true }, () => this.e.get(id).State.Running, () => false)) output(entry.log, entry.stream === 'stderr');
      const done = await this.e.wait(id);
      if (signal?.aborted) throw new BuildError('the build was cancelled: its client went away, or another stage failed');
      if (done.State.ExitCode !== 0) throw new BuildError(`The command '${step.argv.join(' ')}' returned a non-zero code: ${done.State.ExitCode}`, done.State.ExitCode);
      if (made.length) await this.e.withFiles(id, (root) => dropMountpoints(root, made));
      const imageId = await this.e.commit(id, { pause: false, build: { config: this.commitConfig(config), createdBy: step.createdBy, epoch: this.epoch } });
      return this.image(this.store.resolve(imageId));
    } finally {
      signal?.removeEventListener('abort', stop);
      if (this.removeIntermediate || signal?.aborted) { say(`Removing intermediate container ${id.slice(0, 12)}\n`); await this.e.remove(id, { force: true }).catch(() => {}); }
    }
  }

  /**
   * RUN --mount: type=cache (a directory of berthd's kept between builds, by
   * id or target), type=tmpfs, type=bind from the context (read-only unless
   * rw; the source resolved inside the context, never out of it), or from
   * a stage or an image (`from`: its source found by withFromSources). What
   * the classic API cannot carry (secrets, ssh) is refused by name.
   */
  private async runMounts(specs: string[], from: Map<number, string>, scratch: string[]): Promise<{ mounts: Record<string, unknown>[]; tmpfs: Record<string, string>; secrets: string[] }> {
    const mounts: Record<string, unknown>[] = [], tmpfs: Record<string, string> = {}, secrets: string[] = [];
    for (const [k, spec] of specs.entries()) {
      const o = mountOptions(spec);
      const type = o.get('type') ?? 'bind';
      if (!['cache', 'tmpfs', 'bind', 'secret'].includes(type)) throw new InvalidInput('RUN --mount', `${spec}: type=${type} is not served: ${type === 'ssh' ? 'the classic build API cannot carry an ssh agent' : 'berth serves cache, tmpfs, bind and secret'}`);
      if (type === 'secret') {
        const m = this.secretMount(spec, o, scratch);
        if (m) { mounts.push(m); secrets.push(m.Target); }
        continue;
      }
      const target = mountTarget(o);
      if (!target?.startsWith('/')) throw new InvalidInput('RUN --mount', `${spec}: target must be an absolute path`);
      const ro = o.get('ro') === 'true' || o.get('readonly') === 'true';
      if (type === 'tmpfs') { tmpfs[target] = o.has('size') ? `size=${o.get('size')}` : ''; continue; }
      if (type === 'cache') {
        const dir = join(this.e.dataRoot, 'build-mounts', createHash('sha256').update(o.get('id') ?? target).digest('hex').slice(0, 32));
        if (!existsSync(dir)) {
          mkdirSync(dir, { recursive: true, mode: o.has('mode') ? parseInt(o.get('mode')!, 8) : 0o755 });
          if (o.has('uid') || o.has('gid')) chownSync(dir, Number(o.get('uid') ?? 0), Number(o.get('gid') ?? 0));
        }
        mounts.push({ Type: 'bind', Source: dir, Target: target, ReadOnly: ro });
        continue;
      }
      if (type === 'bind') {
        const rw = o.get('rw') === 'true' || o.get('readwrite') === 'true';
        const source = from.get(k) ?? await withRootDir(this.ctx.dir, async (root) => { // inside the context, whatever its links say
          const f = root.stat(posix.normalize(`/${o.get('source') ?? o.get('src') ?? '.'}`), true);
          if (!f) throw new NotFound('RUN --mount', `${spec}: ${o.get('source') ?? '.'} is not in the build context`);
          try {
            if (!rw) return realpathSync(`/proc/self/fd/${f.fd}`);
            // what the step writes there is its own (BuildKit discards it): it gets a copy, and the context stays as the client sent it
            const copy = mkdtempSync(join(this.e.dataRoot, 'trash', 'mount-'));
            scratch.push(copy);
            if (f.st.isDirectory()) { await withRootDir(copy, (to) => copyTree(f.fd, to)); return copy; }
            copyFileSync(`/proc/self/fd/${f.fd}`, join(copy, 'file'));
            return join(copy, 'file');
          } finally { closeFd(f.fd); }
        });
        mounts.push({ Type: 'bind', Source: source, Target: target, ReadOnly: !rw });
      }
    }
    return { mounts, tmpfs, secrets };
  }

  /**
   * type=secret: the value berth build sent (--secret id=...), as a
   * read-only file at target (/run/secrets/ID by default), written to a
   * directory of the exec root (a tmpfs) that goes after the step. A
   * secret not sent is no mount, unless required=true.
   */
  private secretMount(spec: string, o: Map<string, string>, scratch: string[]): { Type: string; Source: string; Target: string; ReadOnly: boolean } | undefined {
    const target = mountTarget(o) ?? `/run/secrets/${o.get('id') ?? ''}`;
    const id = o.get('id') ?? posix.basename(target);
    if (!id || !target.startsWith('/')) throw new InvalidInput('RUN --mount', `${spec}: a secret needs id= or an absolute target`);
    const value = this.ctx.secrets?.get(id);
    if (!value) {
      if (o.get('required') === 'true') throw new NotFound('RUN --mount', `${spec}: secret ${id} not provided (berth build --secret id=${id},src=FILE)`);
      return undefined;
    }
    mkdirSync(join(this.e.execRoot, 'build-secrets'), { recursive: true, mode: 0o700 });
    const dir = mkdtempSync(join(this.e.execRoot, 'build-secrets', 's-'));
    scratch.push(dir);
    const file = join(dir, 'secret');
    writeFileSync(file, value, { mode: 0o400 });
    chownSync(file, Number(o.get('uid') ?? 0), Number(o.get('gid') ?? 0));
    if (o.has('mode')) chmodSync(file, parseInt(o.get('mode')!, 8));
    return { Type: 'bind', Source: file, Target: target, ReadOnly: true };
  }

  async workdir(parent: BuildImage, dir: string, config: ContainerConfig, createdBy: string): Promise<BuildImage> {
    const id = await this.container(parent, config, { Cmd: ['true'] });
    try {
      await this.e.withFiles(id, (root) => closeFd(root.mkdirAll(dir, 0o755)));
      const imageId = await this.e.commit(id, { pause: false, build: { config: this.commitConfig(config), createdBy, epoch: this.epoch } });
      return this.image(this.store.resolve(imageId));
    } finally {
      await this.e.remove(id, { force: true }).catch(() => {});
    }
  }

  /** The image's config as the stage has it (the step container's own Cmd and Entrypoint are not the image's). */
  private commitConfig(c: ContainerConfig): Record<string, unknown> { return { ...c, Cmd: c.Cmd ?? null, Entrypoint: c.Entrypoint ?? null }; }

  /** Runs `fn` with the tree a COPY reads from. */
  private source<T>(from: CopySource, fn: (root: RootDir) => Promise<T>): Promise<T> {
    if (from.kind === 'context') return withRootDir(this.ctx.dir, fn);
    if (from.kind === 'inline' || from.kind === 'url') { // the Dockerfile's own files, or what the URLs give: written to a directory of berthd's trash for the copy
      const dir = mkdtempSync(join(this.e.dataRoot, 'trash', 'add-'));
      return (async () => {
        if (from.kind === 'inline') for (const f of from.files) writeFileSync(join(dir, posix.basename(f.name)), f.text, { mode: 0o644 });
        else for (const u of from.urls) await download(u, join(dir, urlName(u)), from.checksum);
        return withRootDir(dir, fn);
      })().finally(() => rmSync(dir, { recursive: true, force: true }));
    }
    return (async () => {
      const id = await this.container(from.image, {}, { Cmd: ['true'] });
      try { return await this.e.withFiles(id, fn); } finally { await this.e.remove(id, { force: true }).catch(() => {}); }
    })();
  }

  /** The paths a COPY's sources name in the tree it reads (wildcards matched, .dockerignore applied). */
  private paths(root: RootDir, step: CopyStep, from: CopySource): string[] {
    return sourcesOf(step, from).flatMap((s) => matchSources(root, s, this.ignoredIn(from)));
  }

  private ignoredIn(from: CopySource): Ignored { return from.kind === 'context' ? this.ctx.ignored : () => false; }

  /** Each source's entries under the destination, in order. */
  private *entries(root: RootDir, step: CopyStep, from: CopySource, dest: string, destIsDir: (d: string) => boolean, paths = this.paths(root, step, from)): Generator<CopyEntry> {
    const ignored = this.ignoredIn(from);
    if (!paths.length) throw new NotFound('COPY', `no source files were specified (${step.sources.join(' ')})`);
    const toDir = dest.endsWith('/') || paths.length > 1 || destIsDir(dest);
    if (paths.length > 1 && !dest.endsWith('/')) throw new InvalidInput('COPY', `When using COPY with more than one source file, the destination must be a directory and end with a /`);
    for (const p of paths) yield* sourceEntries(root, p, dest.replace(/\/+$/, '') || '/', toDir, ignored);
  }

  digest(step: CopyStep, from: CopySource, workdir: string): Promise<{ digest: string; files: Record<string, string> }> {
    const dest = destination(step.dest, workdir);
    return this.source(from, async (root) => {
      // docker's history names what was copied: one file, one directory, or several sources
      const paths = this.paths(root, step, from);
      const one = paths.length === 1 ? root.stat(paths[0]!, true) : undefined;
      if (one) closeFd(one.fd);
      const kind = paths.length !== 1 ? 'multi' : one?.st.isDirectory() ? 'dir' : 'file';
      const c = await contentDigest(this.entries(root, step, from, dest, (d) => d.endsWith('/'), paths));
      return { digest: `${kind}:${c.digest}`, files: c.files };
    });
  }

  async copy(parent: BuildImage, step: CopyStep, from: CopySource, config: ContainerConfig, createdBy: string): Promise<BuildImage> {
    const dest = destination(step.dest, config.WorkingDir || '/');
    const id = await this.container(parent, config, { Cmd: ['true'] });
    try {
      const [uid, gid] = step.chown ? await this.e.withFiles(id, (root) => owner(root, step.chown!)) : [0, 0];
      const chmod = step.chmod === undefined ? undefined : parseInt(step.chmod, 8);
      const destIsDir = await this.e.withFiles(id, async (root) => { const f = root.stat(dest, true); if (f) { const d = f.st.isDirectory(); closeFd(f.fd); return d; } return false; });
      // ADD unpacks a local tar archive (plain or gzip) at its destination; everything else is copied
      const archives = step.add && from.kind === 'context' ? await this.source(from, async (root) => this.paths(root, step, from).filter((p) => archiveKind(root, p))) : [];
      const copied = archives.length ? { ...step, sources: step.sources.filter((x) => !archives.includes(posix.normalize(`/${x}`))) } : step;
      if (copied.sources.length) {
        // straight from one tree into the other, each held by fd (no tar between: the kernel moves the bytes)
        await this.source(from, (src) => this.e.withFiles(id, (root) => copyInto(root, copyItems(this.entries(src, copied, from, dest, () => destIsDir || archives.length > 0), uid, gid, chmod))));
      }
      if (archives.length) {
        await this.e.withFiles(id, (root) => closeFd(root.mkdirAll(dest, 0o755)));
        for (const a of archives) {
          await this.source(from, async (root) => {
            const f = root.stat(a, true)!;
            try {
              const body = createReadStream(`/proc/self/fd/${f.fd}`);
              await this.e.putArchive(id, dest.replace(/\/+$/, '') || '/', archiveKind(root, a) === 'gzip' ? body.pipe(createGunzip()) : body);
            } finally { closeFd(f.fd); }
          });
        }
      }
      const imageId = await this.e.commit(id, { pause: false, build: { config: this.commitConfig(config), createdBy, epoch: this.epoch } });
      return this.image(this.store.resolve(imageId));
    } finally {
      await this.e.remove(id, { force: true }).catch(() => {});
    }
  }
}

/** A --mount's options: type=cache,target=/x,ro → a map (a bare word is true). */
function mountOptions(spec: string): Map<string, string> {
  return new Map(spec.split(',').map((kv): [string, string] => { const i = kv.indexOf('='); return i < 0 ? [kv, 'true'] : [kv.slice(0, i), kv.slice(i + 1)]; }));
}

/** A --mount's target, by any of its names. */
const mountTarget = (o: Map<string, string>): string | undefined => o.get('target') ?? o.get('dst') ?? o.get('destination');

/** A COPY's sources in the tree it reads: a heredoc's (<<NAME) is its file there, and a URL's its file name. */
const sourcesOf = (step: CopyStep, from: CopySource) => (from.kind === 'inline' ? step.sources.map((x) => posix.basename(x.replace(/^<</, ''))) : from.kind === 'url' ? from.urls.map(urlName) : step.sources);

/** The file name an ADD of a URL gives: the last part of its path, as docker takes it. */
function urlName(url: string): string {
  const name = posix.basename(new URL(url).pathname);
  if (!name || name === '/') throw new InvalidInput('ADD', `cannot determine a file name from the URL ${url}: give the destination's name`);
  return name;
}

/** ADD's download: 0600 (as docker makes it), its time the server's Last-Modified; checked against --checksum when given. */
async function download(url: string, to: string, checksum?: string): Promise<void> {
  let res: Response;
  try { res = await fetch(url, { redirect: 'follow' }); } catch (e) { throw new InvalidInput('ADD', `${url}: ${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message}`); }
  if (!res.ok) throw new InvalidInput('ADD', `${url}: the server answered ${res.status} ${res.statusText}`);
  const body = Buffer.from(await res.arrayBuffer());
  if (checksum !== undefined) {
    const [algo, want] = checksum.includes(':') ? checksum.split(':') as [string, string] : ['sha256', checksum];
    if (algo !== 'sha256' && algo !== 'sha512') throw new InvalidInput('ADD --checksum', `${checksum}: sha256 or sha512`);
    const got = createHash(algo).update(body).digest('hex');
    if (got !== want) throw new InvalidInput('ADD --checksum', `${url}: digest mismatch: got ${algo}:${got}, expected ${algo}:${want}`);
  }
  writeFileSync(to, body, { mode: 0o600 });
  const modified = Date.parse(res.headers.get('last-modified') ?? '');
  if (!Number.isNaN(modified)) utimesSync(to, modified / 1000, modified / 1000);
}

/** `path` and the ancestors of it that the tree does not have (a mount will make them), deepest first. */
function missingPaths(root: RootDir, path: string): string[] {
  const out: string[] = [];
  for (let p = posix.normalize(path); p !== '/'; p = posix.dirname(p)) {
    const f = root.stat(p, false);
    if (f) { closeFd(f.fd); break; }
    out.push(p);
  }
  return out;
}

/** Takes out what a secret's mount made (its file, and its directories when nothing else went in them): the image keeps no trace of it. */
function dropMountpoints(root: RootDir, made: string[]): void {
  for (const p of made) {
    const parent = root.resolve(posix.dirname(p), true);
    try {
      const f = root.stat(p, false);
      if (!f) continue;
      const isDir = f.st.isDirectory();
      closeFd(f.fd);
      if (!isDir) fsx().unlinkat(parent, posix.basename(p), false);
      else try { fsx().unlinkat(parent, posix.basename(p), true); } catch { /* the step put something there: kept */ }
    } finally { closeFd(parent); }
  }
}

/** Whether a context file is a tar archive ADD unpacks: a plain tar ('ustar' at 257) or a gzipped one. */
function archiveKind(root: RootDir, path: string): 'tar' | 'gzip' | undefined {
  const f = root.stat(path, true);
  if (!f) return undefined;
  try {
    if (!f.st.isFile() || f.st.size < 2) return undefined;
    const fd = openSync(`/proc/self/fd/${f.fd}`, 'r');
    const head = Buffer.alloc(262);
    try { readSync(fd, head, 0, 262, 0); } finally { closeSync(fd); }
    if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
    return head.subarray(257, 262).toString() === 'ustar' ? 'tar' : undefined;
  } finally { closeFd(f.fd); }
}

/** COPY's destination: absolute, or under the working directory (a trailing / kept: it says "a directory"). */
function destination(dest: string, workdir: string): string {
  const abs = dest.startsWith('/') ? dest : posix.join(workdir, dest);
  return dest.endsWith('/') || dest === '.' ? `${posix.normalize(abs).replace(/\/+$/, '')}/` : posix.normalize(abs);
}

/** --chown USER[:GROUP], names read from the image's /etc/passwd and /etc/group. */
async function owner(root: RootDir, spec: string): Promise<[number, number]> {
  const [user, group] = spec.split(':') as [string, string | undefined];
  const table = (file: string) => {
    const f = root.stat(file, true);
    if (!f) return [] as string[][];
    try { return readFileSync(`/proc/self/fd/${f.fd}`, 'utf8').split('\n').map((l) => l.split(':')); } catch { return []; } finally { closeFd(f.fd); }
  };
  const id = (v: string, file: string, what: string, gidField = false): number => {
    if (/^\d+$/.test(v)) return Number(v);
    const row = table(file).find((r) => r[0] === v);
    if (!row) throw new InvalidInput('--chown', `unable to find ${what} ${v}: no matching entries in ${what === 'user' ? 'passwd' : 'group'} file`);
    return Number(row[gidField ? 3 : 2]);
  };
  const uid = id(user, '/etc/passwd', 'user');
  const gid = group !== undefined ? id(group, '/etc/group', 'group') : /^\d+$/.test(user) ? uid : id(user, '/etc/passwd', 'user', true);
  return [uid, gid];
}

/** Builds in the engine; resolves to the built image's ID. */
export async function buildImage(e: Engine, req: BuildRequest, ctx: BuildContext, hooks: BuildHooks, ev: BuildEvents, removeIntermediate = true): Promise<string> {
  // SOURCE_DATE_EPOCH (a build arg, as BuildKit takes it): the images' times, and no file in a layer newer than it
  const epochArg = req.buildArgs.get('SOURCE_DATE_EPOCH');
  if (epochArg !== undefined && !/^\d+$/.test(epochArg)) throw new InvalidInput('SOURCE_DATE_EPOCH', `"${epochArg}" is not a number of seconds`);
  const img = await runBuild(req, new EngineWorker(e, ctx, hooks, removeIntermediate, epochArg === undefined ? undefined : Number(epochArg)), ev);
  if (!img.id) throw new BuildError('the build made no image (FROM scratch and nothing else)');
  return img.id;
}
