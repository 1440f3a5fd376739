// The Dockerfile parser: lines to instructions, as BuildKit's parser reads
// them (its test corpus is the judge, byte for byte): parser directives,
// line continuations with the escape character, comments inside
// continuations, flags, each instruction's argument shape (JSON or not,
// name=value triplets, words), heredocs, and the AST dump its tests compare.
import { expand, isSpace, trimLeftSpace } from './shell-lex.js';

export interface Heredoc { name: string; fileDescriptor: number; expand: boolean; chomp: boolean; content: string }

export interface Instruction {
  /** the keyword as written (dump() lowercases it) */
  value: string;
  /** the source line, continuations joined */
  original: string;
  /** the --flags as written, quotes removed */
  flags: string[];
  /** the exec (JSON array) form */
  json: boolean;
  startLine: number;
  endLine: number;
  /** the comment lines just before it, without '#' */
  prevComment: string[];
  heredocs: Heredoc[];
  /** the argument chain (ENV and LABEL: key, value, separator triplets) */
  next: string[];
  /** ONBUILD's instruction */
  sub?: Instruction;
}

export interface Warning { short: string; detail: string[]; url: string; location: [number, number] }
export interface Directive { name: string; value: string; line: number }

export interface Dockerfile {
  children: Instruction[];
  startLine: number;
  endLine: number;
  escape: string;
  directives: Directive[];
  warnings: Warning[];
}

/** A parse error, with the lines it was found on (1-based). */
export class ParseError extends Error {
  constructor(message: string, readonly startLine: number, readonly endLine = startLine) { super(message); }
}

const DIRECTIVE = /^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$/;
const KNOWN_DIRECTIVES = new Set(['escape', 'syntax', 'check']);
const WHITESPACE = /[\t\v\f\r ]+/;
const trimLeft = trimLeftSpace;
const trimNewline = (s: string) => s.replace(/[\r\n]+$/, '');
const isComment = (line: string) => trimLeft(trimNewline(line)).startsWith('#');

/** Parser directives: only at the top of the file, each at most once. */
class Directives {
  escape = '\\';
  continuation = /(\\+)[ \t]*$/;
  readonly seen: Directive[] = [];
  private done = false;
  private line = 0;

  /** Takes a line; whether it was a directive. */
  read(text: string): boolean {
    this.line++;
    if (this.done) return false;
    const m = DIRECTIVE.exec(text);
    const name = m?.[1]!.toLowerCase();
    if (!m || !KNOWN_DIRECTIVES.has(name!)) { this.done = true; return false; }
    if (this.seen.some((d) => d.name === name)) throw new ParseError(`only one ${name} parser directive can be used`, this.line);
    this.seen.push({ name: name!, value: m[2]!, line: this.line });
    if (name === 'escape') {
      if (m[2] !== '`' && m[2] !== '\\') throw new ParseError(`invalid escape token '${m[2]}' does not match \` or \\`, this.line);
      this.escape = m[2];
      this.continuation = new RegExp(`(\\${m[2]}+)[ \\t]*$`);
    }
    return true;
  }

  /** The line without its continuation character, and whether the instruction ends here (an escaped escape at the end is none). */
  trimContinuation(line: string): [string, boolean] {
    const m = this.continuation.exec(line);
    return m && m[1]!.length % 2 === 1 ? [line.slice(0, m.index + m[1]!.length - 1), false] : [line, true];
  }
}

/** Lines as BuildKit's scanner gives them: each with its newline. */
function splitLines(text: string): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < text.length) {
    const nl = text.indexOf('\n', at);
    const end = nl < 0 ? text.length : nl + 1;
    out.push(text.slice(at, end));
    at = end;
  }
  return out;
}

export function parseDockerfile(source: string): Dockerfile {
  const d = new Directives();
  const lines = splitLines(source.replace(/^\uFEFF/, ''));
  const out: Dockerfile = { children: [], startLine: -1, endLine: -1, escape: '\\', directives: d.seen, warnings: [] };
  let current = 0, at = 0;
  let comments: string[] = [];
  let directive = false;
  const process = (raw: string, stripLeft: boolean) => {
    let t = trimNewline(raw);
    if (stripLeft) t = trimLeft(t);
    directive = d.read(t);
    return isComment(t) ? '' : t;
  };
  while (at < lines.length) {
    const raw = lines[at++]!;
    const first = process(raw, true);
    if (isComment(raw) && !directive) {
      const c = trimLeft(trimNewline(raw)).slice(1).trim();
      comments = c ? [...comments, c] : [];
    }
    current++;
    const startLine = current;
    let [text, ended] = d.trimContinuation(first);
    if (ended && !text) continue;
    let empties = 0;
    while (!ended && at < lines.length) {
      const next = lines[at++]!;
      const t = process(next, false);
      current++;
      if (isComment(next)) continue;
      if (!trimLeft(t)) { empties++; continue; }
      const [part, end] = d.trimContinuation(t);
      text += part;
      ended = end;
    }
    if (empties) {
      out.warnings.push({ short: `Empty continuation line found in: ${text}`, detail: ['Empty continuation lines will become errors in a future release'], url: 'https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/', location: [current, current] });
    }
    const node = withLines(() => instruction(text, d, comments), startLine, current);
    if (mayHaveHeredocs(node) && text.includes('<<')) {
      for (const h of withLines(() => heredocsOf(text), startLine, current)) {
        let done = false;
        while (at < lines.length) {
          const l = lines[at++]!;
          current++;
          let candidate = trimNewline(l);
          if (h.chomp) candidate = candidate.replace(/^\t+/, '');
          if (candidate === h.name) { done = true; break; }
          h.content += l;
        }
        if (!done) throw new ParseError('unterminated heredoc', startLine, current);
        node.heredocs.push(h);
      }
    }
    node.startLine = startLine;
    node.endLine = current;
    if (out.startLine < 0) out.startLine = startLine;
    out.endLine = current;
    out.children.push(node);
    comments = [];
  }
  if (out.startLine < 0) throw new ParseError('file with no instructions', current);
  out.escape = d.escape;
  return out;
}

function withLines<T>(f: () => T, start: number, end: number): T {
  try { return f(); } catch (e) {
    if (e instanceof ParseError) throw e;
    throw new ParseError((e as Error).message, start, end);
  }
}

/** One instruction from its joined line: keyword, flags, and the arguments in its own shape. */
function instruction(line: string, d: Directives, prevComment: string[]): Instruction {
  const parts = line.trim().split(WHITESPACE);
  const value = parts[0]!;
  const rest = line.trim().slice(value.length);
  const [args, flags] = rest ? builderFlags(rest.replace(WHITESPACE_START, '')) : ['', []];
  const node: Instruction = { value, original: line, flags, json: false, startLine: 0, endLine: 0, prevComment, heredocs: [], next: [] };
  const a = args.trim();
  const kw = value.toLowerCase();
  switch (kw) {
    case 'run': case 'cmd': case 'entrypoint': case 'shell': return maybeJson(node, a, false);
    case 'add': case 'copy': case 'volume': return maybeJson(node, a, true);
    case 'from': case 'expose': node.next = a ? a.split(WHITESPACE) : []; return node;
    case 'user': case 'workdir': case 'maintainer': case 'stopsignal': node.next = a ? [a] : []; return node;
    case 'arg': node.next = words(a, d.escape); return node;
    case 'env': case 'label': node.next = nameValues(a, kw === 'env' ? 'ENV' : 'LABEL', d.escape); return node;
    case 'healthcheck': return healthcheck(node, a);
    case 'onbuild': if (a) node.sub = instruction(a, d, []); return node;
    default: node.next = ['']; return node; // an unknown instruction is kept, its arguments not
  }
}
const WHITESPACE_START = /^[\t\v\f\r ]+/;

const NOT_STRINGS = 'when using JSON array syntax, arrays must be comprised of strings only';

/** The rest as a JSON array of strings, if it is one: undefined when it is not JSON (trailing text after the array is ignored, as Go's decoder does). */
function jsonArray(rest: string): string[] | undefined {
  const t = trimLeft(rest);
  if (!t.startsWith('[')) return undefined;
  const end = jsonEnd(t);
  if (end < 0) return undefined;
  let v: unknown;
  try { v = JSON.parse(t.slice(0, end)); } catch { return undefined; }
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new Error(NOT_STRINGS);
  return v as string[];
}

/** The end of the JSON value that starts the text (an array), or -1. */
function jsonEnd(t: string): number {
  let depth = 0, inString = false;
  for (let i = 0; i < t.length; i++) {
    const c = t[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') { if (--depth === 0) return i + 1; }
  }
  return -1;
}

function maybeJson(node: Instruction, rest: string, list: boolean): Instruction {
  if (!rest && !list) return node;
  const arr = jsonArray(rest);
  if (arr) { node.next = arr; node.json = true; } else if (list) node.next = rest ? rest.split(WHITESPACE) : []; else node.next = [rest];
  return node;
}

function healthcheck(node: Instruction, rest: string): Instruction {
  let sep = 0;
  while (sep < rest.length && !isSpace(rest[sep]!)) sep++;
  if (sep === 0) return node;
  let next = sep;
  while (next < rest.length && isSpace(rest[next]!)) next++;
  maybeJson(node, rest.slice(next), false);
  node.next = [rest.slice(0, sep), ...node.next];
  return node;
}

/** ENV and LABEL: `key the rest` (one triplet, separator '') or `k=v k2="v 2"` (a triplet per word, separator '='). */
function nameValues(rest: string, key: string, escape: string): string[] {
  const ws = words(rest, escape);
  if (!ws.length) return [];
  if (!ws[0]!.includes('=')) {
    const parts = splitOnce(rest, WHITESPACE);
    if (parts.length < 2) throw new Error(`${key} must have two arguments`);
    return [parts[0]!, parts[1]!, ''];
  }
  return ws.flatMap((w) => {
    const i = w.indexOf('=');
    if (i < 0) throw new Error(`Syntax error - can't find = in ${goQuote(w)}. Must be of the form: name=value`);
    return [w.slice(0, i), w.slice(i + 1), '='];
  });
}

function splitOnce(s: string, re: RegExp): string[] {
  const m = re.exec(s);
  return m ? [s.slice(0, m.index), s.slice(m.index + m[0].length)] : [s];
}

/** Shell-like words with their quotes and escapes kept (ARG, and the first look at ENV and LABEL). */
function words(rest: string, escape: string): string[] {
  const chars = Array.from(rest);
  const out: string[] = [];
  let word = '', inWord = false, quote = '', blankOk = false;
  for (let i = 0; i <= chars.length; i++) {
    const end = i === chars.length;
    let c = chars[i] ?? '';
    if (!inWord && !quote) {
      if (end) break;
      if (isSpace(c)) continue;
      inWord = true;
    }
    if (end) { if (blankOk || word) out.push(word); break; }
    if (!quote) {
      if (isSpace(c)) {
        if (blankOk || word) out.push(word);
        word = ''; blankOk = false; inWord = false;
        continue;
      }
      if (c === '\'' || c === '"') { quote = c; blankOk = true; }
      if (c === escape) {
        if (i + 1 === chars.length) continue; // an escape at the end of the line is dropped
        word += c; // outside quotes the escape is kept with what it escapes, even a quote
        c = chars[++i]!;
      }
      word += c;
      continue;
    }
    if (c === quote) quote = '';
    else if (c === escape && quote !== '\'') { // nothing escapes inside '...'
      if (i + 1 === chars.length) { quote = ''; continue; }
      word += c;
      c = chars[++i]!;
    }
    word += c;
  }
  return out;
}

/** Leading --flags (quotes removed, a bare -- ends them) and the rest of the line. */
function builderFlags(line: string): [string, string[]] {
  const flags: string[] = [];
  let word = '', phase: 'spaces' | 'word' | 'quote' = 'spaces', quote = '', blankOk = false;
  for (let pos = 0; pos <= line.length; pos++) {
    let c = line[pos] ?? '';
    const end = pos === line.length;
    if (phase === 'spaces') {
      if (end) break;
      if (isSpace(c)) continue;
      if (c !== '-' || line[pos + 1] !== '-') return [line.slice(pos), flags];
      phase = 'word';
    }
    if (end) { if (word !== '--' && (blankOk || word)) flags.push(word); break; }
    if (phase === 'word') {
      if (isSpace(c)) {
        phase = 'spaces';
        if (word === '--') return [line.slice(pos), flags];
        if (blankOk || word) flags.push(word);
        word = ''; blankOk = false;
        continue;
      }
      if (c === '\'' || c === '"') { quote = c; blankOk = true; phase = 'quote'; continue; }
      if (c === '\\') {
        if (pos + 1 === line.length) continue;
        c = line[++pos]!;
      }
      word += c;
      continue;
    }
    if (c === quote) { phase = 'word'; continue; }
    if (c === '\\') {
      if (pos + 1 === line.length) { phase = 'word'; continue; }
      c = line[++pos]!;
    }
    word += c;
  }
  return ['', flags];
}

/** RUN, COPY and ADD (and ONBUILD of one) may take heredocs, but not in the exec form. */
function mayHaveHeredocs(node: Instruction): boolean {
  const n = node.value.toLowerCase() === 'onbuild' && node.sub ? node.sub : node;
  return ['add', 'copy', 'run'].includes(n.value.toLowerCase()) && !n.json;
}

const HEREDOC = /^(\d*)<<(-?)([^<]*)$/;

/** The heredocs a line opens, in order: `<<NAME`, `<<-NAME` (tabs stripped), `3<<NAME`, a quoted name (no expansion). */
function heredocsOf(line: string): Heredoc[] {
  let ws: string[];
  try { ws = expand(line, () => undefined, { rawQuotes: true, rawEscapes: true, skipUnset: true }).words; } catch { ws = []; }
  const out: Heredoc[] = [];
  for (let i = 0; i < ws.length; i++) {
    let w = ws[i]!;
    if (/^\d*<<-?$/.test(w) && i + 1 < ws.length) w += ws[++i]!; // `<<  EOF`: the name may follow spaces
    const m = HEREDOC.exec(w);
    if (!m || !m[3]) continue;
    const plain = expand(m[3], () => undefined, { skipUnset: true }).words;
    if (plain.length !== 1) continue;
    const raw = expand(m[3], () => undefined, { skipUnset: true, rawQuotes: true }).words;
    const quotes = (s: string) => (s.match(/['"]/g) ?? []).length;
    out.push({ name: plain[0]!, fileDescriptor: Number(m[1] || 0), expand: quotes(plain[0]!) === quotes(raw[0]!), chomp: m[2] === '-', content: '' });
  }
  return out;
}

/** Go's strconv.Quote, which BuildKit's dump uses. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    const short: Record<number, string> = { 7: '\\a', 8: '\\b', 12: '\\f', 10: '\\n', 13: '\\r', 9: '\\t', 11: '\\v', 34: '\\"', 92: '\\\\' };
    if (short[cp]) out += short[cp];
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (ch === ' ' || /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u.test(ch)) out += ch;
    else out += cp < 0x10000 ? `\\u${cp.toString(16).padStart(4, '0')}` : `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}

/** An instruction as BuildKit's AST dump prints it. */
export function dump(n: Instruction): string {
  let s = `(${n.value.toLowerCase()}`;
  if (n.flags.length) s += ` [${n.flags.map(goQuote).join(' ')}]`;
  if (n.sub) s += ` ${dump(n.sub)}`;
  else for (const a of n.next) s += ` ${goQuote(a)}`;
  return `${s})`;
}
