// berth build: the context directory as a tar (less what .dockerignore
// names; symlinks as symlinks), sent to berthd's POST /build, and its
// progress shown: on a terminal a line per step with its time and whether
// the cache had it, otherwise docker's classic lines as they come.
import { createReadStream, lstatSync, readdirSync, readFileSync, readlinkSync, writeFileSync, existsSync, type Stats } from 'node:fs';
import { join, posix, resolve } from 'node:path';
import { Readable } from 'node:stream';
import type { Command } from 'commander';
import tarStream from 'tar-stream';
import { InvalidInput } from '../../util/check.js';
import { ignoredBy } from '../../util/dockerignore.js';
import { DaemonError, jsonLines, type ApiClient } from '../client.js';
import type { Response } from '../http1.js';
import { collect, keyValues as fieldsOf } from './shared.js';

interface BuildOptions { secret?: string[]; tag?: string[]; file?: string; buildArg?: string[]; target?: string; label?: string[]; cache?: boolean; pull?: boolean; quiet?: boolean; iidfile?: string; network?: string; progress?: string }

/** The context's files in tar order, each directory before what is in it; ignored paths left out (the Dockerfile and .dockerignore always in). */
function* contextPaths(dir: string, ignored: (rel: string) => boolean, keep: Set<string>, rel = ''): Generator<string> {
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    if (ignored(r) && !keep.has(r)) {
      if (!lstatSync(join(dir, r)).isDirectory()) continue;
      // a directory left out may hold a file an exception (!pattern) brings back
      const inner = [...contextPaths(dir, ignored, keep, r)];
      if (inner.length) { yield r; yield* inner; }
      continue;
    }
    yield r;
    if (lstatSync(join(dir, r)).isDirectory()) yield* contextPaths(dir, ignored, keep, r);
  }
}

interface ContextEntry { rel: string; st: Stats }

/** The context's entries in tar order, less what .dockerignore (or DOCKERFILE.dockerignore) names. */
function contextEntries(dir: string, dockerfile: string): ContextEntry[] {
  const ignoreFile = existsSync(join(dir, `${dockerfile}.dockerignore`)) ? `${dockerfile}.dockerignore` : '.dockerignore';
  const ignored = ignoredBy(existsSync(join(dir, ignoreFile)) ? readFileSync(join(dir, ignoreFile), 'utf8') : '');
  return [...contextPaths(dir, ignored, new Set([dockerfile, ignoreFile]))].map((rel) => ({ rel, st: lstatSync(join(dir, rel)) }));
}

/** What tells berthd a path has not changed since it last got it (see api/build-context.ts): never the content, which is not read for it. */
const signature = (st: Stats): string => `${st.mode}:${st.uid}:${st.gid}:${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.ino}:${st.dev}`;

/** The context as a tar stream, as docker's CLI sends it; with `only`, its directories and those paths alone (what berthd asked for). */
function contextTar(dir: string, entries: ContextEntry[], only?: Set<string>): Readable {
  const pack = tarStream.pack();
  void (async () => {
    try {
      for (const { rel, st } of entries) {
        if (only && !st.isDirectory() && !only.has(rel)) continue;
        const h = { name: rel, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
        if (st.isDirectory()) pack.entry({ ...h, type: 'directory' });
        else if (st.isSymbolicLink()) pack.entry({ ...h, type: 'symlink', linkname: readlinkSync(join(dir, rel)) });
        else if (st.isFile()) {
          await new Promise<void>((res, rej) => {
            const done = (e?: Error | null) => (e ? rej(e) : res());
            // a small file is read at once: a read stream's open, reads and close each wait for libuv's threads (0.3 ms a file here)
            if (st.size <= SMALL) { pack.entry({ ...h, type: 'file', size: st.size }, readFileSync(join(dir, rel)), done); return; }
            const sink = pack.entry({ ...h, type: 'file', size: st.size }, done);
            createReadStream(join(dir, rel), { highWaterMark: 1 << 20 }).on('error', rej).pipe(sink);
          });
        }
      }
      pack.finalize();
    } catch (e) { pack.destroy(e as Error); }
  })();
  return Readable.from(coalesced(pack as AsyncIterable<Buffer>)); // a Node stream (tar-stream's is a streamx one)
}

const SMALL = 1 << 20;

/** The tar's small pieces (a header, a file, its padding: three for every small file) joined into writes of 256 KiB; a large one goes as it is, uncopied. */
async function* coalesced(parts: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let held: Buffer[] = [], size = 0;
  const flush = () => { const out = held.length === 1 ? held[0]! : Buffer.concat(held, size); held = []; size = 0; return out; };
  for await (const b of parts) {
    if (b.length >= 64 << 10) {
      if (size) yield flush();
      yield b;
      continue;
    }
    held.push(b);
    size += b.length;
    if (size >= 256 << 10) yield flush();
  }
  if (size) yield flush();
}

function keyValues(list: string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list ?? []) {
    const i = kv.indexOf('=');
    if (i === 0) throw new InvalidInput(flag, `invalid argument "${kv}": a name is needed`);
    if (i < 0) { const v = process.env[kv]; if (v !== undefined) out[kv] = v; } else out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

/** Shows the daemon's messages: plain lines, or on a terminal a line per step with its time and CACHED. */
class Progress {
  private step = '';
  private started = 0;
  private cached = false;
  constructor(private readonly tty: boolean, private readonly quiet: boolean) {}
  line(text: string): void {
    if (this.quiet) return;
    if (!this.tty) { process.stdout.write(text); return; }
    for (const l of text.split(/(?<=\n)/)) {
      const m = /^Step (\d+\/\d+) : (.*)\n$/s.exec(l);
      if (m) { this.end(); this.step = `[${m[1]!.padStart(5)}] ${m[2]}`; this.started = Date.now(); this.cached = false; process.stdout.write(`\x1b[2m${this.step}\x1b[0m\r`); continue; }
      if (l === ' ---> Using cache\n') { this.cached = true; continue; }
      if (/^( ---> |Removing intermediate container )/.test(l)) continue;
      if (/^Successfully (built|tagged) /.test(l)) { this.end(); process.stdout.write(l); continue; }
      process.stdout.write(`\x1b[K    ${l}`); // a RUN's output, under its step
    }
  }
  end(): void {
    if (!this.step) return;
    const took = this.cached ? 'CACHED' : `${((Date.now() - this.started) / 1000).toFixed(1)}s`;
    process.stdout.write(`\x1b[K${this.step.slice(0, (process.stdout.columns || 80) - took.length - 2)}  ${took}\n`);
    this.step = '';
  }
}

export function registerBuild(program: Command, api: () => ApiClient): void {
  program.command('build <context>').description('build an image from a Dockerfile')
    .option('-t, --tag <name>', 'name the image (repeatable)', collect)
    .option('-f, --file <path>', 'the Dockerfile (default: CONTEXT/Dockerfile)')
    .option('--build-arg <name=value>', 'a build arg (repeatable)', collect)
    .option('--target <stage>', 'build only up to this stage')
    .option('--label <name=value>', 'a label on the image (repeatable)', collect)
    .option('--no-cache', 'build every step again')
    .option('--pull', 'pull the base images even when present')
    .option('-q, --quiet', 'print only the image ID')
    .option('--iidfile <file>', 'write the image ID to a file')
    .option('--network <mode>', 'the network RUN steps use (default, none, host)')
    .option('--progress <mode>', 'auto (a line per step on a terminal), plain or tty', 'auto')
    .option('--secret <id=ID,src=PATH|env=VAR>', 'a secret RUN --mount=type=secret reads (repeatable); never in the image or the cache', collect)
    .action(async (context: string, o: BuildOptions) => {
      let dockerfile: string, body: () => Readable, delta: Delta | undefined;
      if (context === '-') { // stdin: a context tar (gzipped or not), or a Dockerfile alone (an empty context), as docker build - takes it
        if (o.file === '-') throw new InvalidInput('--file', 'the context and the Dockerfile cannot both come from stdin');
        const input = await readAll(process.stdin);
        const isTar = (input[0] === 0x1f && input[1] === 0x8b) || input.subarray(257, 262).toString() === 'ustar';
        dockerfile = isTar ? o.file ?? 'Dockerfile' : 'Dockerfile';
        body = () => (isTar ? Readable.from([input]) : tarOf([{ name: 'Dockerfile', text: input }]));
      } else {
        const dir = resolve(context);
        dockerfile = o.file && o.file !== '-' ? posix.relative(dir, resolve(o.file)) : 'Dockerfile';
        if (o.file === '-' || dockerfile.startsWith('..')) { // a Dockerfile from stdin or outside the context travels inside it under a name of its own, as docker's CLI sends it
          const text = o.file === '-' ? await readAll(process.stdin) : readFileSync(resolve(o.file!));
          dockerfile = `.dockerfile.${process.pid}`;
          body = () => withExtraFile(dir, dockerfile, text);
        } else {
          const list = contextEntries(dir, dockerfile);
          body = () => contextTar(dir, list);
          delta = { list, tar: (only) => contextTar(dir, list, only) };
        }
      }
      const q = new URLSearchParams({ dockerfile, rm: '1' });
      for (const t of o.tag ?? []) q.append('t', t);
      q.set('buildargs', JSON.stringify(keyValues(o.buildArg, '--build-arg')));
      q.set('labels', JSON.stringify(keyValues(o.label, '--label')));
      if (o.target) q.set('target', o.target);
      if (o.cache === false) q.set('nocache', '1');
      if (o.pull) q.set('pull', '1');
      if (o.quiet) q.set('q', '1');
      if (o.network) q.set('networkmode', o.network);
      const secrets: Record<string, string> = o.secret?.length ? { [SECRETS_HEADER]: Buffer.from(JSON.stringify(readSecrets(o.secret))).toString('base64') } : {};
      const res = await sendContext(api(), q, body, secrets, delta);
      const shown = new Progress(o.progress === 'tty' || (o.progress !== 'plain' && !!process.stdout.isTTY), !!o.quiet);
      let id = '';
      for await (const m of jsonLines<{ stream?: string; aux?: { ID?: string }; error?: string; errorDetail?: { code?: number } }>(res)) {
        if (m.error) { shown.end(); process.stderr.write(`${m.error}\n`); process.exitCode = m.errorDetail?.code && m.errorDetail.code > 0 ? m.errorDetail.code : 1; return; }
        if (m.aux?.ID) id = m.aux.ID;
        if (m.stream) shown.line(m.stream);
      }
      shown.end();
      if (o.quiet) process.stdout.write(`${id}\n`);
      if (o.iidfile) writeFileSync(o.iidfile, id);
    });
}

/** A context directory's entries, and the tar of its directories and some of its paths. */
interface Delta { list: ContextEntry[]; tar: (only: Set<string>) => Readable }

/**
 * POST /build with the context: when `delta` can make a partial one, the
 * context's list goes first and the tar holds only what berthd asks for
 * (see api/build-context.ts); a berthd that cannot take it (an older one,
 * or its kept context changed meanwhile) gets the whole context.
 */
async function sendContext(api: ApiClient, q: URLSearchParams, whole: () => Readable, headers: Record<string, string>, delta?: Delta): Promise<Response> {
  if (delta) {
    const entries = delta.list.map(({ rel, st }) => [rel, signature(st)]);
    let asked: { token: string; want: string[] } | undefined;
    try { asked = await api.call<{ token: string; want: string[] }>('POST', `/berth/build-context?${q}`, { entries }); } catch (e) { if (!(e instanceof DaemonError) || e.status !== 404) throw e; }
    if (asked) {
      try { return await api.uploadStream('POST', `/build?${q}`, delta.tar(new Set(asked.want)), { ...headers, [CONTEXT_HEADER]: asked.token }); } catch (e) { if (!(e instanceof DaemonError) || e.status !== 409) throw e; }
    }
  }
  return api.uploadStream('POST', `/build?${q}`, whole(), headers);
}

/** What berth build's --secret names, as docker buildx takes them (id=, src= or source=, env=), read here: id to base64. */
function readSecrets(specs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const spec of specs) {
    const f = fieldsOf(spec.split(','));
    const id = f.id;
    if (!id || !/^[\w.-]+$/.test(id)) throw new InvalidInput('--secret', `${spec}: needs id=NAME (letters, digits, . _ -)`);
    const src = f.src ?? f.source, env = f.env ?? (src ? undefined : id);
    let value: Buffer;
    if (src) {
      try { value = readFileSync(resolve(src)); } catch (e) { throw new InvalidInput('--secret', `${id}: cannot read ${src}: ${(e as NodeJS.ErrnoException).code}`); }
    } else if (env && process.env[env] !== undefined) value = Buffer.from(process.env[env]!);
    else throw new InvalidInput('--secret', `${id}: give src=FILE, or env=VAR with VAR set`);
    if (value.length > SECRET_MAX) throw new InvalidInput('--secret', `${id}: ${value.length} bytes, more than a secret may have (${SECRET_MAX})`);
    out[id] = value.toString('base64');
  }
  return out;
}

/** berth build's context list (POST /berth/build-context) that the tar that follows completes */
const CONTEXT_HEADER = 'x-berth-context';
/** How berth build hands its secrets to berthd (docker's classic API has no way): a header, read only by berthd's POST /build. */
const SECRETS_HEADER = 'x-berth-build-secrets';
/** BuildKit's limit for one secret */
const SECRET_MAX = 500 * 1024;

async function readAll(r: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(parts);
}

/** A tar of these files (a Dockerfile read from stdin). */
function tarOf(files: { name: string; text: Buffer }[]): Readable {
  const pack = tarStream.pack();
  for (const f of files) pack.entry({ name: f.name, mode: 0o644, size: f.text.length }, f.text);
  pack.finalize();
  return Readable.from(pack as AsyncIterable<Buffer>);
}

/** The context's tar with one more file at its top. */
function withExtraFile(dir: string, name: string, text: Buffer): Readable {
  const pack = tarStream.pack();
  pack.entry({ name, mode: 0o644, size: text.length }, text);
  const extract = tarStream.extract();
  extract.on('entry', (h, s, next) => { s.pipe(pack.entry(h, next)); });
  extract.on('finish', () => pack.finalize());
  contextTar(dir, contextEntries(dir, name)).pipe(extract as unknown as NodeJS.WritableStream);
  return Readable.from(pack as AsyncIterable<Buffer>);
}
