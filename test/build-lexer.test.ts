// The shell lexer against BuildKit's own tables (../shared/corpus/dockerfile-shell-lexer):
// envVarTest (ProcessWord), wordsTest (ProcessWords), processWithMatches.json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { corpusDir } from './helpers/env.js';

const CORPUS = corpusDir();
import { envOf, expand } from '../src/build/shell-lex.js';

const dir = join(CORPUS, 'dockerfile-shell-lexer');

test('envVarTest: every Linux case (A and U) expands to what BuildKit gives, or fails where it fails', () => {
  const env = envOf(['PWD=/home', 'SHELL=bash', 'KOREAN=한국어', 'NULL=']);
  let n = 0;
  const wrong: string[] = [];
  for (const raw of readFileSync(join(dir, 'envVarTest'), 'utf8').split('\n')) {
    if (raw.startsWith('#') || !raw.trim()) continue;
    const f = raw.split('|');
    assert.equal(f.length, 3, raw);
    const [platform, input, want] = f.map((x) => x.trim()) as [string, string, string];
    if (platform === 'W') continue;
    n++;
    let got: string;
    try { got = expand(input, env).word; } catch { got = 'error'; }
    if (got !== want) wrong.push(`${input} => ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
  assert.deepEqual(wrong, [], `${wrong.length} of ${n} wrong`);
  assert.ok(n > 100, String(n));
});

test('wordsTest: field splitting of unquoted expansions into words, the environment built up line by line', () => {
  const vars: string[] = [];
  let n = 0;
  const wrong: string[] = [];
  for (const raw of readFileSync(join(dir, 'wordsTest'), 'utf8').split('\n')) {
    if (raw.startsWith('#') || !raw.trim()) continue;
    if (raw.startsWith('ENV ')) { vars.push(raw.slice(4).replace(/^ +/, '')); continue; }
    const f = raw.split('|');
    assert.equal(f.length, 2, raw);
    const input = f[0]!.trim(), want = f[1]!.replace(/^ +/, '').split(',');
    n++;
    let got: string[];
    try { got = expand(input, envOf(vars)).words; } catch { got = ['error']; }
    if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`${input} => ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
  assert.deepEqual(wrong, [], `${wrong.length} of ${n} wrong`);
});

test('processWithMatches: pattern operators (# ## % %% / //), no-colon forms, and which names were used set and unset', () => {
  const cases = JSON.parse(readFileSync(join(dir, 'processWithMatches.json'), 'utf8')) as { input: string; envs: Record<string, string>; expected: string; expectedErr: boolean; matches: string[]; unmatched: string[] }[];
  assert.equal(cases.length, 47);
  const wrong: string[] = [];
  for (const c of cases) {
    try {
      const r = expand(c.input, (k) => c.envs[k]);
      if (c.expectedErr) { wrong.push(`${c.input}: no error (${JSON.stringify(r.word)})`); continue; }
      if (r.word !== c.expected) wrong.push(`${c.input} => ${JSON.stringify(r.word)}, want ${JSON.stringify(c.expected)}`);
      if ([...r.matched].sort().join() !== [...c.matches].sort().join()) wrong.push(`${c.input}: matched ${[...r.matched]}, want ${c.matches}`);
      if ([...r.unmatched].sort().join() !== [...c.unmatched].sort().join()) wrong.push(`${c.input}: unmatched ${[...r.unmatched]}, want ${c.unmatched}`);
    } catch (e) {
      if (!c.expectedErr) wrong.push(`${c.input}: ${(e as Error).message}`);
    }
  }
  assert.deepEqual(wrong, []);
});
