// OCI conformance side by side: opencontainers/runtime-tools' validation
// programs run against runc and berth-runtime on this host, each program's
// `ok` counted for both. The goal: berth is not behind runc on any program
// (its verdict, then its count of ok: see notBehind). runtime-tools is built from its own vendored modules with the
// machine's Go (commit 260e151 builds with Debian's Go 1.19; later ones need
// Go 1.21): RUNTIME_TOOLS=/path/to/checkout node dist/bench/runtime-tools.js
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SRC = process.env.RUNTIME_TOOLS ?? '/tmp/rtt';
const TIMEOUT = 120000;

if (!existsSync(join(SRC, 'validation'))) {
  process.stderr.write(`runtime-tools checkout not found at ${SRC} (set RUNTIME_TOOLS)\n`);
  process.exit(2);
}
const programs = readdirSync(join(SRC, 'validation'), { withFileTypes: true }).filter((d) => d.isDirectory() && d.name !== 'util').map((d) => d.name).sort();
if (!existsSync(join(SRC, 'runtimetest')) || programs.some((p) => !existsSync(join(SRC, 'validation', p, `${p}.t`)))) {
  execFileSync('make', ['runtimetest', 'validation-executables'], { cwd: SRC, stdio: 'inherit', env: { ...process.env, GOFLAGS: '-mod=vendor', GOTOOLCHAIN: 'local' } });
}

interface Count { ok: number; notOk: number; skip: number; exit: number | null; firstFailure: string }

/** Runs one validation program under `runtime`; TAP counts (a skip is neither ok nor not ok). */
function run(program: string, runtime: string): Count {
  const r = spawnSync(join(SRC, 'validation', program, `${program}.t`), [], { cwd: SRC, encoding: 'utf8', timeout: TIMEOUT, env: { ...process.env, RUNTIME: runtime } });
  const lines = `${r.stdout}\n${r.stderr}`.split('\n');
  const c: Count = { ok: 0, notOk: 0, skip: 0, exit: r.status, firstFailure: '' };
  for (const l of lines) {
    if (/^ok\b.*#\s*skip/i.test(l)) c.skip++;
    else if (/^ok\b/.test(l)) c.ok++;
    else if (/^not ok\b/.test(l)) { c.notOk++; c.firstFailure ||= l.replace(/^not ok \d+ - /, '').slice(0, 90); }
  }
  return c;
}

/**
 * Whether berth is not behind runc on a program: its own verdict first (a
 * *_fail program passes only when the runtime refuses the config, so the
 * oks runc prints from inside a container the spec says it must refuse
 * count for nothing), then, where the verdicts agree, the count of ok.
 */
const notBehind = (runc: Count, berth: Count): boolean =>
  (runc.exit === 0) !== (berth.exit === 0) ? berth.exit === 0 : berth.ok >= runc.ok;

const runc = execFileSync('runc', ['--version'], { encoding: 'utf8' }).split('\n')[0];
const berth = join(REPO, 'bin', 'berth-runtime');
const rows: string[] = [];
let behind = 0;
for (const p of programs) {
  const a = run(p, 'runc'), b = run(p, berth);
  if (!notBehind(a, b)) behind++;
  const cell = (c: Count) => `${c.ok}/${c.ok + c.notOk}${c.skip ? ` (${c.skip} skipped)` : ''}, exit ${c.exit ?? 'timeout'}`;
  rows.push(`| ${p} | ${cell(a)} | ${cell(b)} | ${notBehind(a, b) ? '✓' : '✗'} | ${b.notOk ? b.firstFailure.replace(/\|/g, '/') : ''} |`);
  process.stdout.write(`${rows[rows.length - 1]}\n`);
}
const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: SRC, encoding: 'utf8' }).trim();
const table = [
  `# OCI runtime-tools validation: runc and berth-runtime side by side`,
  '',
  `runtime-tools ${commit}, ${runc}, berth-runtime ${execFileSync(berth, ['--version'], { encoding: 'utf8' }).split('\n')[0]}; ${new Date().toISOString()}.`,
  `Each cell: the program's \`ok\` lines over its \`ok\` plus \`not ok\`, and its exit status (0: the program's own verdict is a pass). Goal: berth ≥ runc for every program: the program's own verdict first (exit 0 beats a failure: a \`*_fail\` program fails when the runtime runs a config the spec says it MUST refuse, whatever it printed from inside that container), then the count of ok. Behind: ${behind}.`,
  '',
  '| program | runc | berth | ≥ runc | berth\'s first failure |',
  '|---|---|---|---|---|',
  ...rows,
  '',
].join('\n');
mkdirSync(join(REPO, 'bench', 'results'), { recursive: true });
writeFileSync(join(REPO, 'bench', 'results', 'runtime-tools.md'), table);
process.stdout.write(`\n${behind} program(s) where berth passes fewer than runc\n`);
