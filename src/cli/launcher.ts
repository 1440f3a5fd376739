// Starts a bundled CLI (dist/NAME.cjs) with a V8 code cache beside it, so a
// cold start skips parsing and compiling the code it runs. The cache is
// made by `npm run bundle` (--warm: runs the pure planning paths once) and
// made again whenever V8 rejects it (another Node version). A missing or
// unwritable cache only costs time.
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { Script } from 'node:vm';
import Module, { createRequire } from 'node:module';

const [name, ...rest] = process.argv.slice(2);
const warm = rest[0] === '--warm';
const file = join(__dirname, `${name}.cjs`);
const cacheFile = `${file}.cache`;
let cachedData: Buffer | undefined;
try { cachedData = readFileSync(cacheFile); } catch { /* first start */ }

const script = new Script((Module as unknown as { wrap(s: string): string }).wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
const mod = { exports: {} as { main(argv: string[]): Promise<number>; warm(): Promise<void> } };
script.runInThisContext()(mod.exports, createRequire(file), mod, file, __dirname);

function saveCache(): void {
  try {
    const tmp = `${cacheFile}.${process.pid}`;
    writeFileSync(tmp, script.createCachedData());
    renameSync(tmp, cacheFile);
  } catch { /* read-only install: run without a cache */ }
}

if (warm) {
  void mod.exports.warm().then(saveCache);
} else {
  if (!cachedData || script.cachedDataRejected) process.once('beforeExit', saveCache);
  void mod.exports.main(rest).then((code) => { process.exitCode = code; });
}
