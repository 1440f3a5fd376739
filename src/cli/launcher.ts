// Starts a bundled CLI (dist/NAME.cjs) with a V8 code cache beside it, so a
// cold start skips parsing and compiling the code it runs. The cache is
// made by `npm run bundle` (--warm: runs the pure planning paths once) and
// made again whenever V8 rejects it (another Node version). A missing or
// unwritable cache only costs time.
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import Module, { createRequire } from 'node:module';
import { CONTAINER_VERBS, verbOf } from './verbs.js';
import { fsx } from '../util/fsx.js';

const [cli, ...rest] = process.argv.slice(2);
const warm = rest[0] === '--warm';
// a CLI worker of berthd's (src/cli/worker.ts): runs the commands fronts hand it
const worker = cli === 'berth' && rest[0] === '--cli-worker';
// A CLI worker starts on CPU no command wants: started at nice 19 only, it
// took ~250 ms of CPU from a pull running meanwhile (handover.ts sets it
// back when a command comes).
if (worker) try { fsx().schedIdle(true); } catch { /* starts at the nice berthd gave it */ }
// the runtime server (src/cli/runtime-server.ts): serves the runtime front's commands
const server = cli === 'berth-runtime' && rest[0] === '--serve';
// the container verbs have a bundle of their own, a third the size
const name = cli === 'berth' && CONTAINER_VERBS.has(verbOf(rest) ?? '') ? 'berth-containers' : cli!;
const file = join(__dirname, `${name}.cjs`);
const cacheFile = `${file}.cache`;
let cachedData: Buffer | undefined;
try { cachedData = readFileSync(cacheFile); } catch { /* first start */ }

// Compiled eagerly, so the cache holds every function, not only those the
// warm-up ran. V8 accepts a cache only under the flags it was made with, and
// eager compiling is slower for anything compiled later: the flag is set only
// around this compile and the making of the cache.
function eagerly<T>(fn: () => T): T {
  setFlagsFromString('--no-lazy');
  try { return fn(); } finally { setFlagsFromString('--lazy'); }
}

const script = eagerly(() => new Script((Module as unknown as { wrap(s: string): string }).wrap(readFileSync(file, 'utf8')), { filename: file, cachedData }));
const mod = { exports: {} as { main(argv: string[]): Promise<number>; warm(): Promise<void>; worker(): Promise<number>; serve(path: string): Promise<number> } };
script.runInThisContext()(mod.exports, createRequire(file), mod, file, __dirname);

function saveCache(): void {
  try {
    const tmp = `${cacheFile}.${process.pid}`;
    writeFileSync(tmp, eagerly(() => script.createCachedData()));
    renameSync(tmp, cacheFile);
  } catch { /* read-only install: run without a cache */ }
}

if (warm) {
  void mod.exports.warm().then(saveCache);
} else {
  const stale = !cachedData || script.cachedDataRejected;
  void (worker ? mod.exports.worker() : server ? mod.exports.serve(rest[1]!) : mod.exports.main(rest)).then(async (code) => {
    if (stale) saveCache();
    // The berth CLI is done when main is: leaving now skips ~10 ms of
    // teardown. berthd's main returns when it has stopped serving, but its
    // connections to the shims, and clients' attach and log streams, would
    // keep it alive. Writes to a pipe are asynchronous, so what is still
    // queued on stdout and stderr is flushed first. The runtime CLI (whose
    // main may return while it serves) ends on its own.
    if (cli === 'berth' || cli === 'berthd') {
      await Promise.all([process.stdout, process.stderr].map((s) => new Promise((res) => (s.writableLength ? s.write('', res) : res(undefined)))));
      process.exit(code);
    }
    process.exitCode = code;
  });
}
