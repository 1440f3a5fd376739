// The build: the stages the target needs, each instruction in turn on the
// image the stage has so far. A worker (the engine) runs RUN steps in
// containers, copies files and makes images; this file decides what each
// step is, whether the cache holds it, and what the client is told.
// A step's cache key is its parent image, the instruction as expanded and,
// for COPY and ADD, the digest of the content it copies: never mtimes.
import { createHash } from 'node:crypto';
import { InvalidInput } from '../util/check.js';
import { dispatch, type ContainerConfig, type CopyStep, type RunStep, type StageState, type Step } from './dispatch.js';
import { parseDockerfile } from './parser.js';
import { PREDEFINED, planStages, stageRef, where, type Stage } from './stages.js';

export interface BuildImage { id: string; config: ContainerConfig }

/** Where a COPY reads from: the build context, or an image (an earlier stage's, or one named by --from). */
export type CopySource = { kind: 'context' } | { kind: 'image'; image: BuildImage } | { kind: 'inline'; files: { name: string; text: string }[] } | { kind: 'url'; urls: string[]; checksum?: string };

export interface Worker {
  /** An image by reference, pulled when missing (or always, with `pull`). */
  base(ref: string, pull: boolean, say: (line: string) => void): Promise<BuildImage>;
  /** FROM scratch: no layers, no config. */
  scratch(): BuildImage;
  /** RUN: the command in a container of `parent` (output streamed); its changes as a new image. */
  run(parent: BuildImage, step: RunStep, config: ContainerConfig, say: (line: string) => void, output: (b: Buffer, stderr: boolean) => void, signal?: AbortSignal): Promise<BuildImage>;
  /** The digest of what a COPY or ADD would copy (names, modes, contents), for its cache key and history line, and each file's. */
  digest(step: CopyStep, from: CopySource, workdir: string): Promise<{ digest: string; files: Record<string, string> }>;
  /** What the step at this place (stage and position) was when it was last made, and noting what it is now. */
  lastStep(at: string): StepRecord | undefined;
  noteStep(at: string, rec: StepRecord): void;
  /** COPY and ADD onto `parent`: a new image with the files as one layer. */
  copy(parent: BuildImage, step: CopyStep, from: CopySource, config: ContainerConfig, createdBy: string): Promise<BuildImage>;
  /** WORKDIR: a new image whose layer holds the directory, made where missing. */
  workdir(parent: BuildImage, dir: string, config: ContainerConfig, createdBy: string): Promise<BuildImage>;
  /** A new image: `parent` with another config and author, and a history line with no layer. */
  configure(parent: BuildImage, config: ContainerConfig, author: string, createdBy: string): Promise<BuildImage>;
  /** The image the cache holds for `key`, if it still exists. */
  cached(key: string): BuildImage | undefined;
  remember(key: string, image: BuildImage): void;
}

/** What made a step's cache key, kept to say why a later build missed the cache there. */
export interface StepRecord { parent: string; text: string; args: string[]; files?: Record<string, string> }

export interface BuildRequest {
  dockerfile: string;
  /** the Dockerfile's name, for messages */
  file: string;
  buildArgs: Map<string, string>;
  target: string;
  labels: Record<string, string>;
  noCache: boolean;
  pull: boolean;
  network: string;
  /** aborted when the client went away: the build stops at once */
  signal?: AbortSignal;
}

export interface BuildEvents {
  /** a line of progress (docker's classic messages) */
  say(line: string): void;
  /** a RUN step's output (stderr: from its standard error) */
  output(b: Buffer, stderr: boolean): void;
}

export class BuildError extends Error {
  constructor(message: string, readonly code = 1) { super(message); }
}

const short = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);
const hash = (...parts: string[]) => createHash('sha256').update(parts.join('\0')).digest('hex');

/**
 * Messages in the order the stages are listed, though stages run at once:
 * the first unfinished stage speaks as it goes; a later one's messages wait
 * until those before it are done.
 */
class InOrder {
  private live = 0;
  private readonly held: (() => void)[][];
  private readonly done: boolean[];
  constructor(count: number) { this.held = Array.from({ length: count }, () => []); this.done = Array(count).fill(false); }
  events(p: number, ev: BuildEvents): BuildEvents {
    const put = (f: () => void) => { if (p === this.live) f(); else this.held[p]!.push(f); };
    return { say: (l) => put(() => ev.say(l)), output: (b, e) => put(() => ev.output(b, e)) };
  }
  finish(p: number): void {
    this.done[p] = true;
    while (this.live < this.done.length && this.done[this.live]) {
      this.live++;
      for (const f of this.held[this.live] ?? []) f();
      if (this.live < this.held.length) this.held[this.live] = [];
    }
  }
}

/** Builds the target; resolves to its image. Stages that do not need each other build at the same time. */
export async function build(req: BuildRequest, w: Worker, ev: BuildEvents): Promise<BuildImage> {
  const df = parseDockerfile(req.dockerfile);
  const graph = planStages(df, req.buildArgs, req.target, req.file);
  const meta = df.children.slice(0, df.children.findIndex((n) => n.value.toLowerCase() === 'from'));
  const total = meta.length + graph.order.reduce((n, k) => n + 1 + graph.stages[k]!.instructions.length, 0);
  const used = new Set<string>(graph.metaArgs.keys());
  let first = meta.length;
  for (const [i, n] of meta.entries()) ev.say(`Step ${i + 1}/${total} : ${n.original.trim().replace(/^\S+/, 'ARG')}\n`);
  // one failed stage stops the others, as a client that went away stops them all
  const stop = new AbortController();
  req.signal?.addEventListener('abort', () => stop.abort(), { once: true });
  const inner = { ...req, signal: stop.signal };
  const order = new InOrder(graph.order.length);
  const built = new Map<number, Promise<BuildImage>>();
  const done = new Map<number, BuildImage>();
  for (const [p, k] of graph.order.entries()) {
    const s = graph.stages[k]!;
    const from = first;
    first += 1 + s.instructions.length;
    built.set(k, (async () => {
      const deps = await Promise.all(s.needs.map((d) => built.get(d)!));
      s.needs.forEach((d, i) => done.set(d, deps[i]!));
      const img = await buildStage(inner, w, order.events(p, ev), s, { stage: s, graph: graph.stages, built: done }, { from, total, used, target: k === graph.target, metaArgs: graph.metaArgs });
      done.set(k, img);
      order.finish(p);
      return img;
    })().catch((e: unknown) => { stop.abort(); throw e; }));
  }
  const results = await Promise.allSettled(built.values());
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !(r.reason instanceof Cancelled)) ?? results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  const unused = [...req.buildArgs.keys()].filter((a) => !used.has(a) && !PREDEFINED.has(a) && a !== 'SOURCE_DATE_EPOCH');
  if (unused.length) ev.say(`[Warning] One or more build-args [${unused.sort().join(' ')}] were not consumed\n`);
  return built.get(graph.target)!;
}

/** A step that did not run because the build stopped (its client went away, or another stage failed). */
class Cancelled extends BuildError {}

/** One stage: its base, the base's ONBUILD triggers, its instructions; the image it ends with. */
async function buildStage(req: BuildRequest, w: Worker, ev: BuildEvents, s: Stage, at: Where, o: { from: number; total: number; used: Set<string>; target: boolean; metaArgs: Map<string, string | undefined> }): Promise<BuildImage> {
  let step = o.from;
  ev.say(`Step ${++step}/${o.total} : ${s.from.original.trim().replace(/^\S+/, 'FROM')}\n`);
  let img = s.baseStage !== undefined ? at.built.get(s.baseStage)! : s.base.toLowerCase() === 'scratch' ? w.scratch() : await w.base(s.base, req.pull, ev.say);
  ev.say(` ---> ${short(img.id)}\n`);
  const state: StageState = {
    config: structuredClone(img.config), args: new Map(), buildArgs: req.buildArgs, metaArgs: o.metaArgs, used: o.used, cmdSet: false, author: '', file: req.file,
  };
  // a base without PATH gets the default one, as docker's builders give it
  if (!(state.config.Env ?? []).some((e) => e.startsWith('PATH='))) state.config.Env = [...(state.config.Env ?? []), 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];
  // the base's ONBUILD triggers run first, and the new image does not keep them (docker's rule)
  const triggers = (state.config.OnBuild ?? []).map((t) => parseDockerfile(t).children[0]!);
  if (triggers.length) { state.config.OnBuild = null; ev.say(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}\n`); }
  for (const n of triggers) img = await runStep(req, w, ev, state, dispatch(state, n), img, at);
  for (const n of s.instructions) {
    ev.say(`Step ${++step}/${o.total} : ${n.original.trim().replace(/^\S+/, (kw) => kw.toUpperCase())}\n`);
    img = await runStep(req, w, ev, state, dispatch(state, n), img, at);
    ev.say(` ---> ${short(img.id)}\n`);
  }
  if (o.target && Object.keys(req.labels).length) {
    state.config.Labels = { ...(state.config.Labels ?? {}), ...req.labels };
    img = await w.configure(img, state.config, state.author, `/bin/sh -c #(nop)  LABEL ${Object.entries(req.labels).map(([a, b]) => `${a}=${b}`).join(' ')}`);
  }
  return img;
}

interface Where { stage: Stage; graph: Stage[]; built: Map<number, BuildImage> }

/** One step, from the cache when it holds it; the new image. */
async function runStep(req: BuildRequest, w: Worker, ev: BuildEvents, state: StageState, st: Step, parent: BuildImage, at: Where): Promise<BuildImage> {
  if (req.signal?.aborted) throw new Cancelled('the build was cancelled: its client went away, or another stage failed');
  const config = structuredClone(state.config);
  let key: string, make: () => Promise<BuildImage>;
  const rec: StepRecord = { parent: parent.id, text: st.kind === 'copy' ? st.n.original.trim() : st.kind === 'run' ? st.argv.join(' ') : st.createdBy, args: st.kind === 'run' ? st.env : [] };
  if (st.kind === 'workdir') {
    key = hash(parent.id, 'workdir', st.createdBy, JSON.stringify(config));
    make = () => w.workdir(parent, st.dir, config, st.createdBy);
  } else if (st.kind === 'config') {
    key = hash(parent.id, 'config', st.createdBy, JSON.stringify(config), state.author);
    make = () => w.configure(parent, config, state.author, st.createdBy);
  } else if (st.kind === 'run') {
    if (req.network !== 'default' && st.network === 'default') st.network = req.network;
    // a bind from= a stage or an image names it by ID for the worker (and the cache key: a stage built anew is a miss)
    st.mounts = await Promise.all(st.mounts.map(async (m) => {
      const ref = /(?:^|,)from=([^,]+)/.exec(m)?.[1];
      if (ref === undefined) return m;
      const k = stageRef(ref, at.stage, at.graph, st.n, req.file);
      const img = k !== undefined ? at.built.get(k) : await w.base(ref, req.pull, ev.say);
      if (!img) throw new InvalidInput(where(req.file, st.n), `stage ${ref} was not built`);
      return m.replace(/(^|,)from=[^,]+/, `$1from=${img.id}`);
    }));
    key = hash(parent.id, 'run', JSON.stringify([st.argv, st.env, config.WorkingDir, config.User, st.network, st.mounts, st.heredocs]));
    make = () => w.run(parent, st, config, ev.say, ev.output, req.signal);
  } else {
    const source = await copySource(st, at, req, w, ev);
    const { digest, files } = await w.digest(st, source, config.WorkingDir || '/');
    rec.files = files;
    const createdBy = `${(config.Shell ?? ['/bin/sh', '-c']).join(' ')} #(nop) ${st.what}${st.what.includes('--chown') ? '' : ' '}${digest} in ${st.dest} `;
    key = hash(parent.id, 'copy', createdBy, JSON.stringify([st.chown, st.chmod, st.parents, st.excludes, config.WorkingDir]));
    make = () => w.copy(parent, st, source, config, createdBy);
  }
  const hit = req.noCache ? undefined : w.cached(key);
  if (hit) { ev.say(' ---> Using cache\n'); return hit; }
  const place = `${at.stage.name || at.stage.index}:${at.stage.instructions.indexOf(st.n)}`;
  if (!req.noCache) ev.say(` ---> Cache miss: ${missReason(w.lastStep(place), rec)}\n`);
  const img = await make();
  w.remember(key, img);
  w.noteStep(place, rec);
  return img;
}

/** Why the cache did not hold a step, from what the step was when it was last made at the same place. */
export function missReason(was: StepRecord | undefined, now: StepRecord): string {
  if (!was) return 'no earlier build made this step';
  if (was.parent !== now.parent) return 'a step before it was made again (or its base image changed)';
  if (was.text !== now.text) return `the instruction changed (it was: ${was.text})`;
  const args = (l: string[]) => new Map(l.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  const [a, b] = [args(was.args), args(now.args)];
  const changedArgs = [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k)).sort();
  if (changedArgs.length) return `its environment changed: ${changedArgs.join(', ')}`;
  if (was.files && now.files) {
    const names = [...new Set([...Object.keys(was.files), ...Object.keys(now.files)])].sort();
    const changed = names.filter((f) => was.files![f] !== now.files![f]).map((f) => (!(f in was.files!) ? `${f} (added)` : !(f in now.files!) ? `${f} (removed)` : f));
    if (changed.length) return `content changed: ${changed.slice(0, 5).join(', ')}${changed.length > 5 ? ` and ${changed.length - 5} more` : ''}`;
  }
  return 'its image is no longer there (pruned)';
}

/** A COPY's source: the context, an earlier stage's image, or an image --from names. */
async function copySource(st: CopyStep, at: Where, req: BuildRequest, w: Worker, ev: BuildEvents): Promise<CopySource> {
  if (st.inline.length) {
    if (st.from !== undefined || st.sources.some((x) => !x.startsWith('<<'))) throw new InvalidInput(where(req.file, st.n), 'a COPY of heredocs copies only heredocs (no --from, no context files)');
    return { kind: 'inline', files: st.inline };
  }
  const urls = st.sources.filter((x) => /^https?:\/\//.test(x));
  if (st.add && urls.length) {
    if (urls.length !== st.sources.length) throw new InvalidInput(where(req.file, st.n), 'an ADD of URLs adds only URLs (put context files in an ADD of their own)');
    return { kind: 'url', urls, ...(st.checksum !== undefined && { checksum: st.checksum }) };
  }
  if (st.checksum !== undefined) throw new InvalidInput(where(req.file, st.n), '--checksum is for an ADD of a URL');
  if (st.from === undefined) return { kind: 'context' };
  const k = stageRef(st.from, at.stage, at.graph, st.n, req.file);
  if (k === undefined) return { kind: 'image', image: await w.base(st.from, req.pull, ev.say) };
  const img = at.built.get(k);
  if (!img) throw new InvalidInput(where(req.file, st.n), `stage ${st.from} was not built`);
  return { kind: 'image', image: img };
}
