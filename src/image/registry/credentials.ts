// Registry credentials in docker's config.json ("auths"), so that docker and
// berth read each other's logins: $DOCKER_CONFIG/config.json, else
// ~/.docker/config.json. Docker Hub's key is https://index.docker.io/v1/.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../util/atomic.js';
import { InvalidInput } from '../../util/check.js';

export interface Credentials { username: string; password: string }

const HUB_KEY = 'https://index.docker.io/v1/';

export function configPath(): string {
  return join(process.env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
}

const keyFor = (registry: string) => (registry === 'docker.io' ? HUB_KEY : registry);

function readConfig(): Record<string, unknown> & { auths?: Record<string, { auth?: string; username?: string; password?: string }> } {
  const p = configPath();
  if (!existsSync(p)) return {};
  try { return JSON.parse(readFileSync(p, 'utf8')); } catch (e) { throw new InvalidInput(p, `not valid JSON: ${(e as Error).message}`); }
}

export function getCredentials(registry: string): Credentials | undefined {
  const auths = readConfig().auths ?? {};
  const e = auths[keyFor(registry)] ?? auths[`https://${registry}`] ?? auths[`http://${registry}`];
  if (!e) return undefined;
  if (e.auth) {
    const s = Buffer.from(e.auth, 'base64').toString();
    const i = s.indexOf(':');
    if (i > 0) return { username: s.slice(0, i), password: s.slice(i + 1) };
  }
  if (e.username && e.password) return { username: e.username, password: e.password };
  return undefined;
}

export function saveCredentials(registry: string, c: Credentials | undefined): boolean {
  const cfg = readConfig();
  const auths = { ...(cfg.auths ?? {}) };
  const had = keyFor(registry) in auths;
  if (c) auths[keyFor(registry)] = { auth: Buffer.from(`${c.username}:${c.password}`).toString('base64') };
  else delete auths[keyFor(registry)];
  mkdirSync(join(configPath(), '..'), { recursive: true, mode: 0o700 });
  writeFileAtomic(configPath(), `${JSON.stringify({ ...cfg, auths }, null, '\t')}\n`, { mode: 0o600 });
  return had;
}
