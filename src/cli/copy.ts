// `berth cp`, as docker's: host paths both ways, or tar streams with "-".
// The daemon speaks tar (GET/PUT /containers/{id}/archive); GNU tar packs
// and unpacks on the host, renaming the top entry when the destination
// names a new file or directory.
import { existsSync, lstatSync, mkdirSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Response } from './http1.js';
import { InvalidInput } from '../util/check.js';
import { PACK, runTar } from '../util/tar.js';
import { DaemonError, type ApiClient } from './client.js';

interface PathStat { name: string; mode: number; linkTarget: string }
const GO_DIR = 0x80000000;

/** "CONTAINER:PATH" split; undefined for a host path (a colon after a slash is a host path's, as docker reads it). */
export function containerPath(arg: string): { id: string; path: string } | undefined {
  const i = arg.indexOf(':');
  if (i <= 0 || arg.slice(0, i).includes('/') || arg.startsWith('.')) return undefined;
  return { id: arg.slice(0, i), path: arg.slice(i + 1) || '/' };
}

/** What the container has at `path` (HEAD .../archive), or undefined when nothing is there. */
async function statIn(api: ApiClient, id: string, path: string): Promise<PathStat | undefined> {
  const res = await api.raw('HEAD', `/containers/${id}/archive?path=${encodeURIComponent(path)}`);
  res.resume();
  if (res.statusCode === 404) {
    // the container's absence is an error; the path's is a destination to create
    await api.call('GET', `/containers/${id}/json`);
    return undefined;
  }
  if (res.statusCode >= 400) throw new DaemonError(res.statusCode, `cannot stat ${path} in ${id}`);
  return JSON.parse(Buffer.from(String(res.headers['x-docker-container-path-stat']), 'base64').toString()) as PathStat;
}

/** GNU tar's --transform giving the top entry `from` the name `to` (not applied to symlink targets). */
function rename(from: string, to: string): string[] {
  if (from === to) return [];
  const re = from.replace(/[\\^$.*[\],]/g, (c) => `\\${c}`);
  const repl = to.replace(/[\\&,]/g, (c) => `\\${c}`);
  return [`--transform=s,^${re}\\(/.*\\)\\?$,${repl}\\1,S`];
}

/** `cp CONTAINER:SRC DEST`: DEST an existing directory receives SRC in it; any other DEST is SRC's new name. */
export async function copyOut(api: ApiClient, id: string, src: string, dest: string, o: { archive?: boolean }): Promise<void> {
  const res: Response = await api.stream('GET', `/containers/${id}/archive?path=${encodeURIComponent(src)}`);
  const stat = JSON.parse(Buffer.from(String(res.headers['x-docker-container-path-stat'] ?? 'e30='), 'base64').toString()) as PathStat;
  let dir = resolve(dest), as: string | undefined;
  const isDir = existsSync(dir) && statSync(dir).isDirectory();
  const fail = (msg: string) => { res.destroy(); return new InvalidInput('cp', msg); };
  if (src.endsWith('/.')) { // the content of a directory: into DEST, made when missing
    if (!isDir && existsSync(dir)) throw fail(`cannot copy a directory to the file ${dest}`);
    if (!existsSync(dirname(dir))) throw fail(`the destination directory ${dirname(dir)} does not exist`);
    if (!isDir) mkdirSync(dir);
    as = '.';
  } else if (!isDir) { // DEST is SRC's new name
    if (existsSync(dir) && (stat.mode & GO_DIR)) throw fail(`cannot copy a directory to the file ${dest}`);
    as = basename(dir);
    dir = dirname(dir);
    if (!existsSync(dir)) throw fail(`the destination directory ${dir} does not exist`);
  }
  const { t, done } = runTar(['-xf', '-', '-C', dir, o.archive ? '--same-owner' : '--no-same-owner', ...(as ? rename(stat.name, as) : [])], 'in');
  // tar may end at the archive's end-of-archive blocks before the zeros
  // that pad it are written: once it has succeeded, its stdin closing early
  // is no failure
  const [piped, untarred] = await Promise.allSettled([pipeline(res, t.stdin!), done]);
  if (untarred.status === 'rejected') throw untarred.reason;
  if (piped.status === 'rejected' && !(t.exitCode === 0 && ['ERR_STREAM_PREMATURE_CLOSE', 'EPIPE'].includes((piped.reason as NodeJS.ErrnoException).code ?? ''))) throw piped.reason;
}

/** `cp SRC CONTAINER:DEST`: the same rules, DEST in the container. */
export async function copyIn(api: ApiClient, src: string, id: string, dest: string, o: { followLink?: boolean }): Promise<void> {
  const path = resolve(src);
  let st;
  try { st = o.followLink ? statSync(path) : lstatSync(path); } catch { throw new InvalidInput('cp', `no such file or directory: ${src}`); }
  const whole = src.endsWith('/.') && st.isDirectory();
  const there = await statIn(api, id, dest);
  let into = dest, args: string[];
  if (whole) {
    if (!there || !(there.mode & GO_DIR)) throw new InvalidInput('cp', `the destination directory ${dest} must exist in the container to copy a directory's content`);
    args = ['-C', path, '.'];
  } else if (there && (there.mode & GO_DIR)) {
    args = ['-C', dirname(path), basename(path)];
  } else {
    if (there && st.isDirectory()) throw new InvalidInput('cp', `cannot copy a directory to the file ${dest} in the container`);
    into = dirname(dest.replace(/\/+$/, '')) || '/';
    args = ['-C', dirname(path), ...rename(basename(path), basename(dest.replace(/\/+$/, ''))), basename(path)];
  }
  const { t, done } = runTar([...PACK, ...(o.followLink ? ['-h'] : []), ...args], 'out');
  await Promise.all([api.upload('PUT', `/containers/${id}/archive?path=${encodeURIComponent(into)}`, t.stdout!), done]);
}
