// The Dockerfile's word expansion, as BuildKit's shell lexer does it: quote
// removal, escapes, $VAR and ${VAR...} with its modifiers (:- :+ :? - + ?
// # ## % %% / //), and field splitting of unquoted expansions into words.
// It is not a shell: no command substitution, no globbing, no arithmetic.

/** Where a name's value comes from: undefined when it is not set. */
export type EnvLookup = (name: string) => string | undefined;

export interface LexOptions {
  /** the escape character (`\` or the `escape=` directive's backtick) */
  escape?: string;
  /** quotes are kept in the result (the heredoc scan's mode) */
  rawQuotes?: boolean;
  /** escape characters are kept in the result */
  rawEscapes?: boolean;
  /** an unset variable is left as written ($X, ${X:-y}) instead of expanding to '' */
  skipUnset?: boolean;
}

export interface Expansion { word: string; words: string[]; matched: Set<string>; unmatched: Set<string> }

export class LexError extends Error {}

/** Go's unicode.IsSpace, which BuildKit's parser and lexer split on. */
const SPACES = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const SPACE = new RegExp(`^[${SPACES}]$`, 'u');
const LEADING_SPACE = new RegExp(`^[${SPACES}]+`, 'u');
export const isSpace = (c: string) => SPACE.test(c);
export const trimLeftSpace = (s: string) => s.replace(LEADING_SPACE, '');
const isDigit = (c: string) => /^\p{Nd}$/u.test(c);
const isLetter = (c: string) => /^\p{L}$/u.test(c);
const SPECIAL = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);
const EOF = '';

/** Words as field splitting builds them: unquoted spaces end a word, quoted text never does. */
class Words {
  word = '';
  words: string[] = [];
  inWord = false;
  addChar(c: string): void {
    if (isSpace(c)) {
      if (this.inWord && this.word.length) { this.words.push(this.word); this.word = ''; this.inWord = false; }
    } else this.addRaw(c);
  }
  addRaw(s: string): void { this.word += s; this.inWord = true; }
  addSplit(s: string): void { for (const c of s) this.addChar(c); }
  done(): string[] {
    if (this.word.length) { this.words.push(this.word); this.word = ''; this.inWord = false; }
    return this.words;
  }
}

class Scanner {
  private readonly chars: string[];
  private at = 0;
  constructor(text: string) { this.chars = Array.from(text); }
  peek(): string { return this.chars[this.at] ?? EOF; }
  next(): string { return this.chars[this.at++] ?? EOF; }
}

class ShellWord {
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();
  private readonly s: Scanner;
  private readonly esc: string;
  constructor(text: string, private readonly env: EnvLookup, private readonly o: LexOptions) {
    this.s = new Scanner(text);
    this.esc = o.escape ?? '\\';
  }

  run(): { word: string; words: string[] } { return this.until(EOF, !!this.o.rawEscapes); }

  /** Reads to `stop` (consumed) or the end; the expanded text and its words. */
  private until(stop: string, rawEscapes: boolean): { word: string; words: string[] } {
    let result = '';
    const words = new Words();
    while (this.s.peek() !== EOF) {
      const c = this.s.peek();
      if (stop !== EOF && c === stop) {
        this.s.next();
        return { word: result, words: words.done() };
      }
      if (c === '\'' || c === '"' || c === '$') {
        const part = c === '\'' ? this.single() : c === '"' ? this.double() : this.dollar();
        result += part;
        if (c === '$') words.addSplit(part);
        else words.addRaw(part);
        continue;
      }
      let ch = this.s.next();
      if (ch === this.esc) {
        if (rawEscapes) { words.addRaw(ch); result += ch; }
        ch = this.s.next(); // escapes the next character; a trailing one is dropped
        if (ch === EOF) break;
        words.addRaw(ch);
      } else words.addChar(ch);
      result += ch;
    }
    if (stop !== EOF) throw new LexError(`unexpected end of statement while looking for matching ${stop}`);
    return { word: result, words: words.done() };
  }

  private single(): string {
    const q = this.s.next();
    let out = this.o.rawQuotes ? q : '';
    for (;;) {
      const c = this.s.next();
      if (c === EOF) throw new LexError('unexpected end of statement while looking for matching single-quote');
      if (c === '\'') return this.o.rawQuotes ? out + c : out;
      out += c;
    }
  }

  private double(): string {
    const q = this.s.next();
    let out = this.o.rawQuotes ? q : '';
    for (;;) {
      const p = this.s.peek();
      if (p === EOF) throw new LexError('unexpected end of statement while looking for matching double-quote');
      if (p === '"') { this.s.next(); return this.o.rawQuotes ? out + p : out; }
      if (p === '$') { out += this.dollar(); continue; }
      let c = this.s.next();
      if (c === this.esc) {
        const n = this.s.peek();
        if (n === EOF) continue; // an escape at the end of the word is dropped
        if (n === '"' || n === '$' || n === this.esc) { // only these are escaped inside "..."; other escapes stay as written
          if (this.o.rawEscapes) out += c;
          c = this.s.next();
        }
      }
      out += c;
    }
  }

  private lookup(name: string): string | undefined {
    const v = this.env(name);
    (v === undefined ? this.unmatched : this.matched).add(name);
    return v;
  }

  private name(): string {
    let name = '';
    while (this.s.peek() !== EOF) {
      const c = this.s.peek();
      if (!name && isDigit(c)) { // $1, ${001}: positional, read all its digits
        while (isDigit(this.s.peek())) name += this.s.next();
        return name;
      }
      if (!name && SPECIAL.has(c)) return this.s.next();
      if (!isLetter(c) && !isDigit(c) && c !== '_') break;
      name += this.s.next();
    }
    return name;
  }

  private dollar(): string {
    this.s.next();
    if (this.s.peek() !== '{') {
      const name = this.name();
      if (!name) return '$';
      const v = this.lookup(name);
      return v === undefined && this.o.skipUnset ? `$${name}` : v ?? '';
    }
    this.s.next();
    const first = this.s.peek();
    if (first === EOF) throw new LexError('syntax error: missing \'}\'');
    if (first === '{' || first === '}' || first === ':') throw new LexError('syntax error: bad substitution');
    const name = this.name();
    let ch = this.s.next();
    if (ch === '}') {
      const v = this.lookup(name);
      return v === undefined && this.o.skipUnset ? `\${${name}}` : v ?? '';
    }
    if (ch === '/') return this.replace(name);
    let mod = ch;
    const colon = ch === ':';
    if (colon) { ch = this.s.next(); mod += ch; }
    if (!'+-?#%'.includes(ch) || ch === EOF || (colon && (ch === '#' || ch === '%'))) throw new LexError(`unsupported modifier (${mod}) in substitution`);
    const word = this.closing(() => this.until('}', ch === '#' || ch === '%').word, "'}'");
    const v = this.lookup(name);
    if (v === undefined && this.o.skipUnset) return `\${${name}${mod}${word}}`;
    const empty = v === undefined || (colon && v === '');
    switch (ch) {
      case '-': return empty ? word : v!;
      case '+': return empty ? '' : word;
      case '?':
        if (v === undefined) throw new LexError(`${name}: ${word || 'is not allowed to be unset'}`);
        if (colon && v === '') throw new LexError(`${name}: ${word || 'is not allowed to be empty'}`);
        return v;
      default: { // # ## % %%: the shortest (or, doubled, longest) match of the pattern off the front or back
        const greedy = word.startsWith(ch);
        const pattern = greedy ? word.slice(1) : word;
        return ch === '#' ? trimPrefix(pattern, v ?? '', greedy) : trimSuffix(pattern, v ?? '', greedy);
      }
    }
  }

  /** ${VAR/pattern/replacement} and ${VAR//pattern/replacement} (every match). */
  private replace(name: string): string {
    const all = this.s.peek() === '/';
    if (all) this.s.next();
    const pattern = this.closing(() => this.until('/', true).word, "'/' in ${}");
    const replacement = this.closing(() => this.until('}', true).word, "'}'");
    const v = this.lookup(name);
    if (v === undefined && this.o.skipUnset) return `\${${name}/${pattern}/${replacement}}`;
    const re = patternRegex(pattern, true, false, all);
    return (v ?? '').replace(re, () => replacement);
  }

  /** A read to a closing character; at the end of the text, the error names what is missing. */
  private closing(read: () => string, missing: string): string {
    try { return read(); } catch (e) {
      if (this.s.peek() === EOF) throw new LexError(`syntax error: missing ${missing}`);
      throw e;
    }
  }
}

/** A shell pattern (* ? and escapes) as a regular expression. */
function patternRegex(pattern: string, greedy: boolean, anchored: boolean, global = false): RegExp {
  const chars = Array.from(pattern);
  let out = anchored ? '^' : '';
  for (let i = 0; i < chars.length; i++) {
    let c = chars[i]!;
    if (c === '*') { out += greedy ? '.*' : '.*?'; continue; }
    if (c === '?') { out += '.'; continue; }
    if (c === '\\') {
      if (chars[i + 1] === '}') continue; // a } escaped inside ${...} is no part of the pattern
      c = chars[++i] ?? '';
      out += c.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&'); // an escaped character is itself
      continue;
    }
    out += /[[\]{}.+()|^$]/.test(c) ? `\\${c}` : c;
  }
  return new RegExp(out, global ? 'gsu' : 'su');
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const m = patternRegex(pattern, greedy, true).exec(value);
  return m ? value.slice(m[0].length) : value;
}

/** The shortest (or longest) match at the end: both reversed, it is a match at the front. */
function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  const p = Array.from(pattern), rev: string[] = [];
  for (let i = 0; i < p.length;) {
    if (p[i] === '\\' && i !== p.length - 1) { rev.unshift(p[i]!, p[i + 1]!); i += 2; } else { rev.unshift(p[i]!); i++; }
  }
  const reversed = (s: string) => Array.from(s).reverse().join('');
  return reversed(trimPrefix(rev.join(''), reversed(value), greedy));
}

/** Expands `text`: the word as one string, its words after field splitting, and which names it used (set or not). */
export function expand(text: string, env: EnvLookup, o: LexOptions = {}): Expansion {
  const w = new ShellWord(text, env, o);
  try {
    const { word, words } = w.run();
    return { word, words, matched: w.matched, unmatched: w.unmatched };
  } catch (e) {
    if (e instanceof LexError) throw new LexError(`failed to process "${text}": ${e.message}`);
    throw e;
  }
}

/** An environment from KEY=VALUE entries (the last one of a name wins). */
export function envOf(entries: Iterable<string>): EnvLookup {
  const m = new Map<string, string>();
  for (const e of entries) {
    const i = e.indexOf('=');
    if (i > 0) m.set(e.slice(0, i), e.slice(i + 1));
  }
  return (name) => m.get(name);
}
