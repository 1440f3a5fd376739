// Where a build's context goes, and how berth build sends only what changed.
// The context of the last build of the same tags and Dockerfile is kept
// (as BuildKit keeps its local sources); a build again unpacks over it
// (syncInto: files are compared, not made again). berth build first sends
// the context's list, each path with its signature (type, mode, owner, size,
// times, inode), to POST /berth/build-context; berthd answers with the paths
// whose signature differs from what the kept directory was made from, and
// the build's tar then holds only those (and the directories). The
// signatures are kept beside the directory, dropped while it changes and
// written again after, with the boot they belong to: a crash of the
// machine (the kept files are not synced) makes them void.
import { randomBytes, createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { diskUsage, syncInto, withRootDir } from '../image/index.js';
import { writeFileAtomic } from '../util/atomic.js';
import { Conflict, InvalidInput } from '../util/check.js';

const CONTEXTS = 'build-contexts';
const STATES = 'build-context-state';

/** Contexts being unpacked or built from, by key: a second build of the same key takes a directory of its own. */
const inUse = new Set<string>();

const keyOf = (tags: string[], dockerfile: string): string => createHash('sha256').update(JSON.stringify([tags, dockerfile])).digest('hex').slice(0, 32);

const bootId = (): string => { try { return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(); } catch { return ''; } };

/** What the kept directory of `key` was made from: path to signature, and a generation that changes with every sync. */
interface KeptState { boot: string; gen: string; sigs: Record<string, string> }

function stateFile(dataRoot: string, key: string): string { return join(dataRoot, STATES, `${key}.json`); }

function readState(dataRoot: string, key: string): KeptState | undefined {
  try {
    const s = JSON.parse(readFileSync(stateFile(dataRoot, key), 'utf8')) as KeptState;
    return s.boot === bootId() && typeof s.gen === 'string' && s.sigs && typeof s.sigs === 'object' ? s : undefined;
  } catch { return undefined; }
}

/** A context's list as berth build sends it: [path, signature] pairs. */
export type ContextList = [string, string][];

function parseList(body: unknown): ContextList {
  const entries = (body as { entries?: unknown } | null)?.entries;
  if (!Array.isArray(entries) || entries.some((e) => !Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || typeof e[1] !== 'string' || e[0] === '' || e[0].startsWith('/'))) {
    throw new InvalidInput('entries', 'must be a list of [relative path, signature] pairs');
  }
  return entries as ContextList;
}

/** Lists sent to POST /berth/build-context that a build has not taken yet, by token (the newest few). */
const pending = new Map<string, { key: string; list: ContextList; basedOn: string | null }>();
const PENDING_MAX = 32;

/**
 * POST /berth/build-context: which of the listed paths the kept directory
 * lacks or has otherwise. The token names the list for the build that follows.
 */
export function contextWants(dataRoot: string, tags: string[], dockerfile: string, body: unknown): { token: string; want: string[] } {
  const list = parseList(body);
  const key = keyOf(tags, dockerfile);
  const state = inUse.has(key) ? undefined : readState(dataRoot, key);
  const token = randomBytes(16).toString('hex');
  pending.set(token, { key, list, basedOn: state?.gen ?? null });
  for (const t of pending.keys()) if (pending.size > PENDING_MAX) pending.delete(t);
  return { token, want: state ? list.filter(([rel, sig]) => state.sigs[rel] !== sig).map(([rel]) => rel) : list.map(([rel]) => rel) };
}

/**
 * Unpacks a build's context into the directory kept for its tags and
 * Dockerfile, or into a new one in the trash while that is in use. With
 * `token` (berth build's), the tar holds only what POST /berth/build-context
 * asked for; the rest is what the kept directory has. `done` gives the directory back.
 */
export async function receiveContext(dataRoot: string, tags: string[], dockerfile: string, tar: Readable, token?: string): Promise<{ dir: string; done: () => void }> {
  const key = keyOf(tags, dockerfile);
  const sent = token === undefined ? undefined : pending.get(token);
  if (token !== undefined) {
    pending.delete(token);
    if (!sent || sent.key !== key) throw new Conflict('X-Berth-Context', 'no such context list (berthd restarted, or the list is for other tags or another Dockerfile): send the context whole');
  }
  if (inUse.has(key)) {
    if (sent?.basedOn) throw new Conflict('X-Berth-Context', 'the kept context is in use by another build: send the context whole');
    const dir = mkdtempSync(join(dataRoot, 'trash', 'build-'));
    const done = () => rmSync(dir, { recursive: true, force: true });
    try { await withRootDir(dir, (root) => syncInto(root, tar)); } catch (e) { done(); throw e; }
    return { dir, done };
  }
  inUse.add(key);
  const done = () => inUse.delete(key);
  try {
    const dir = join(dataRoot, CONTEXTS, key);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (sent && (readState(dataRoot, key)?.gen ?? null) !== sent.basedOn) throw new Conflict('X-Berth-Context', 'the kept context changed since its list was asked for: send the context whole');
    rmSync(stateFile(dataRoot, key), { force: true }); // void while the directory changes
    const missing = await withRootDir(dir, (root) => syncInto(root, tar, sent ? sent.list.map(([rel]) => rel) : []));
    if (missing.length) throw new Conflict('X-Berth-Context', `the kept context lacks ${missing[0]}: send the context whole`);
    if (sent) {
      mkdirSync(join(dataRoot, STATES), { recursive: true, mode: 0o700 });
      writeFileAtomic(stateFile(dataRoot, key), JSON.stringify({ boot: bootId(), gen: randomBytes(8).toString('hex'), sigs: Object.fromEntries(sent.list) } satisfies KeptState), { durable: false });
    }
    return { dir, done };
  } catch (e) { done(); throw e; }
}

/** The build cache that is not images (system df's BuildCache): kept contexts, as BuildKit's local sources, and RUN --mount=type=cache directories. */
export function buildCacheDirs(dataRoot: string): Record<string, unknown>[] {
  const dirs = (sub: string, type: string, description: string) => (existsSync(join(dataRoot, sub)) ? readdirSync(join(dataRoot, sub)) : []).map((k) => {
    const at = statSync(join(dataRoot, sub, k));
    return { ID: k, Parent: '', Type: type, Description: description, InUse: type === 'source.local' && inUse.has(k), Shared: false, Size: diskUsage(join(dataRoot, sub, k)), CreatedAt: at.birthtime.toISOString(), LastUsedAt: at.mtime.toISOString(), UsageCount: 0 };
  });
  return [...dirs(CONTEXTS, 'source.local', 'the context of the last build of these tags and Dockerfile'), ...dirs('build-mounts', 'exec.cachemount', 'a RUN --mount=type=cache directory')];
}

/** builder prune's part: the kept contexts not in use, with their lists. Returns the bytes freed. */
export function pruneContexts(dataRoot: string): number {
  const contexts = join(dataRoot, CONTEXTS);
  let bytes = 0;
  for (const k of existsSync(contexts) ? readdirSync(contexts) : []) {
    if (inUse.has(k)) continue;
    bytes += diskUsage(join(contexts, k));
    rmSync(stateFile(dataRoot, k), { force: true });
    rmSync(join(contexts, k), { recursive: true, force: true });
  }
  return bytes;
}
