// The house's rules, read from the tree: layers import one way, subsystems
// are reached through their public face, and files keep to their size (the
// C programs to the budgets the README gives them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function filesUnder(dir: string, ext: RegExp): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p, ext));
    else if (ext.test(name)) out.push(p);
  }
  return out;
}

const lines = (f: string) => readFileSync(f, 'utf8').split('\n').length - 1;
const src = filesUnder(join(ROOT, 'src'), /\.ts$/).map((f) => relative(join(ROOT, 'src'), f));

/** Each module's relative imports, as paths under src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, 'src', file), 'utf8');
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+'(\.[^']+)'/g)]
    .map((m) => relative(join(ROOT, 'src'), resolve(join(ROOT, 'src', dirname(file)), m[1]!)).replace(/\.js$/, '.ts'));
}

// cli → daemon → api → engine → runtime, image (network, build) → util
const RANK: Record<string, number> = { util: 0, runtime: 1, image: 1, network: 1, build: 1, engine: 2, api: 3, daemon: 4, cli: 5 };
const layer = (f: string) => f.split('/')[0]!;

test('layers import one way: no module imports from a layer above it or beside it', () => {
  const wrong: string[] = [];
  for (const f of src) {
    for (const to of importsOf(f)) {
      const [a, b] = [layer(f), layer(to)];
      if (a === b || !(a in RANK) || !(b in RANK)) continue;
      if (RANK[b]! >= RANK[a]!) wrong.push(`${f} → ${to}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('runtime, image, engine, network and build are reached only through their public face (index.ts)', () => {
  const wrong: string[] = [];
  for (const f of src) {
    for (const to of importsOf(f)) {
      const sub = layer(to);
      if (!['runtime', 'image', 'engine', 'network', 'build'].includes(sub) || layer(f) === sub) continue;
      if (to !== `${sub}/index.ts`) wrong.push(`${f} → ${to}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('source files stay about 500 lines (generated tables aside); C files at most 400', () => {
  const generated = new Set(['runtime/seccomp/syscalls.ts']);
  const long = src.filter((f) => !generated.has(f) && lines(join(ROOT, 'src', f)) > 540).map((f) => `${f}: ${lines(join(ROOT, 'src', f))}`);
  assert.deepEqual(long, []);
  const c = filesUnder(join(ROOT, 'native'), /\.[ch]$/).filter((f) => lines(f) > 400).map((f) => `${relative(ROOT, f)}: ${lines(f)}`);
  assert.deepEqual(c, []);
});

test('each C program keeps to its line budget in the README, and the README says how many lines it has', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const rows = [...readme.matchAll(/^\|[^|]*\(`(native\/[a-z]+)\/`\) \| (\d+) \| ([\d,]+) \| ([\d,]+) \|$/gm)];
  assert.ok(rows.length >= 5, 'the README has the budget table');
  for (const [, dir, files, budget, now] of rows) {
    const all = filesUnder(join(ROOT, dir!), /\.[ch]$/);
    const total = all.reduce((n, f) => n + lines(f), 0);
    const num = (s: string) => Number(s.replace(/,/g, ''));
    assert.ok(total <= num(budget!), `${dir}: ${total} lines, over its budget of ${budget}`);
    assert.equal(all.length, Number(files), `${dir}: the README's file count`);
    assert.equal(total, num(now!), `${dir}: the README's line count`);
  }
});
