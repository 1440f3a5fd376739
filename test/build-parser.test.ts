// The Dockerfile parser against BuildKit's own corpus (../shared/corpus):
// the AST dumps byte for byte, the negative cases refused, the full parse
// (flags, heredocs, lines, comments, warnings, errors) as BuildKit's parser
// gives it, and the line numbers test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { corpusDir } from './helpers/env.js';
import { dump, parseDockerfile, type Instruction } from '../src/build/parser.js';

const CORPUS = corpusDir();
const dirs = (d: string) => readdirSync(join(CORPUS, d)).sort();

test('dockerfile-parser: every case dumps byte for byte what BuildKit\'s result file holds', () => {
  const names = dirs('dockerfile-parser');
  assert.equal(names.length, 33);
  const wrong: string[] = [];
  for (const name of names) {
    const want = readFileSync(join(CORPUS, 'dockerfile-parser', name, 'result'), 'utf8').replace(/\r\n/g, '\n');
    let got: string;
    try { got = parseDockerfile(readFileSync(join(CORPUS, 'dockerfile-parser', name, 'Dockerfile'), 'utf8')).children.map(dump).join('\n') + '\n'; } catch (e) { got = `error: ${(e as Error).message}`; }
    if (got !== want) wrong.push(`${name}:\n${got}\nwant:\n${want}`);
  }
  assert.deepEqual(wrong, []);
});

test('dockerfile-parser-negative: the four are refused', () => {
  const names = dirs('dockerfile-parser-negative');
  assert.equal(names.length, 4);
  for (const name of names) assert.throws(() => parseDockerfile(readFileSync(join(CORPUS, 'dockerfile-parser-negative', name, 'Dockerfile'), 'utf8')), name);
});

interface JsonNode { value: string; original: string; flags?: string[]; attributes?: { json?: boolean }; startLine: number; endLine: number; prevComment?: string[]; heredocs?: Instruction['heredocs']; next?: { value: string; children?: JsonNode[] }[]; dump: string }

/** Our instruction in the corpus's JSON shape. */
function asJson(n: Instruction): JsonNode {
  const j: JsonNode = { value: n.value, original: n.original, startLine: n.startLine, endLine: n.endLine, dump: dump(n) };
  if (n.flags.length) j.flags = n.flags;
  if (n.json) j.attributes = { json: true };
  if (n.prevComment.length) j.prevComment = n.prevComment;
  if (n.heredocs.length) j.heredocs = n.heredocs;
  if (n.sub) j.next = [{ value: '', children: [asJson({ ...n.sub, startLine: 0, endLine: 0 })] }];
  else if (n.next.length) j.next = n.next.map((value) => ({ value }));
  return j;
}

/** The corpus's node, with the fields our shape has (a child of ONBUILD has no lines of its own). */
function normal(j: JsonNode, child = false): JsonNode {
  const out: JsonNode = { value: j.value, original: j.original, startLine: child ? 0 : j.startLine, endLine: child ? 0 : j.endLine, dump: j.dump };
  if (j.flags?.length) out.flags = j.flags;
  if (j.attributes?.json) out.attributes = { json: true };
  if (j.prevComment?.length) out.prevComment = j.prevComment;
  if (j.heredocs?.length) out.heredocs = j.heredocs;
  if (j.next?.length) out.next = j.next.map((x) => (x.children ? { value: x.value, children: x.children.map((c) => normal(c, true)) } : { value: x.value }));
  return out;
}

test('dockerfile-parser-json: all 41 parse as BuildKit parsed them: keyword, original line, flags, JSON form, lines, comments, heredocs, arguments, warnings, errors', () => {
  const names = dirs('dockerfile-parser-json');
  assert.equal(names.length, 41);
  const wrong: string[] = [];
  for (const name of names) {
    const want = JSON.parse(readFileSync(join(CORPUS, 'dockerfile-parser-json', name, 'parse.json'), 'utf8'));
    const text = readFileSync(join(CORPUS, 'dockerfile-parser-json', name, 'Dockerfile'), 'utf8');
    try {
      const got = parseDockerfile(text);
      if (want.error) { wrong.push(`${name}: parsed, want the error ${want.error}`); continue; }
      const mine = { escapeToken: got.escape, dump: got.children.map(dump).join('\n') + '\n', warnings: got.warnings, ast: { startLine: got.startLine, endLine: got.endLine, children: got.children.map(asJson) } };
      const theirs = { escapeToken: want.escapeToken, dump: want.dump, warnings: want.warnings ?? [], ast: { startLine: want.ast.startLine, endLine: want.ast.endLine, children: (want.ast.children as JsonNode[]).map((c) => normal(c)) } };
      try { assert.deepEqual(mine, theirs); } catch (e) { wrong.push(`${name}: ${(e as Error).message.slice(0, 1500)}`); }
    } catch (e) {
      if (!want.error) wrong.push(`${name}: ${(e as Error).message}`);
      else if ((e as Error).message !== want.error) wrong.push(`${name}: error ${(e as Error).message}, want ${want.error}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('dockerfile-parser-lineinfo: the root spans lines 5-31 and its three instructions [5,5], [11,12], [17,31]', () => {
  const r = parseDockerfile(readFileSync(join(CORPUS, 'dockerfile-parser-lineinfo', 'Dockerfile'), 'utf8'));
  assert.deepEqual([r.startLine, r.endLine], [5, 31]);
  assert.deepEqual(r.children.map((c) => [c.startLine, c.endLine]), [[5, 5], [11, 12], [17, 31]]);
});
