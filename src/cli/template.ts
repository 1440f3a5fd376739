// docker's --format: Go's text/template, the part people use. Fields
// (.A.B, $v.A, $), pipelines with |, parentheses, string, number and bool
// literals, {{range}} (with $k, $v :=), {{if}}/{{else if}}/{{else}},
// {{with}}, {{- and -}}, comments, and docker's functions and Go's
// builtins that inspect and ps templates use. Anything else is refused
// with what text/template would say, as docker refuses a template it cannot
// parse. Values print as docker's CLI prints them, but for maps and
// structs, which print as JSON (as berth always has).

type Node =
  | { k: 'text'; text: string }
  | { k: 'out'; pipe: Pipe }
  | { k: 'range' | 'if' | 'with'; pipe: Pipe; vars: string[]; body: Node[]; alt: Node[] };
type Operand = { k: 'field'; base: string; path: string[] } | { k: 'lit'; v: unknown } | { k: 'fn'; name: string } | { k: 'sub'; pipe: Pipe; path: string[] };
type Pipe = Operand[][];

export class TemplateError extends Error {}

const FUNCS: Record<string, (...a: unknown[]) => unknown> = {
  json: (v) => JSON.stringify(v ?? null),
  join: (a, sep) => (Array.isArray(a) ? a.map(String).join(String(sep)) : ''),
  lower: (s) => String(s).toLowerCase(),
  upper: (s) => String(s).toUpperCase(),
  title: (s) => String(s).replace(/\b\w/g, (c) => c.toUpperCase()),
  split: (s, sep) => String(s).split(String(sep)),
  len: (v) => (Array.isArray(v) || typeof v === 'string' ? v.length : v && typeof v === 'object' ? Object.keys(v).length : 0),
  index: (v, ...keys) => keys.reduce<unknown>((x, key) => (x as Record<string, unknown> | undefined)?.[String(key)], v),
  print: (...a) => a.map(show).join(''),
  println: (...a) => `${a.map(show).join(' ')}\n`,
  printf: (f, ...a) => String(f).replace(/%[-+# 0]*\d*(\.\d+)?[svdqtx%]/g, (m) => (m === '%%' ? '%' : m.endsWith('q') ? JSON.stringify(String(a.shift())) : show(a.shift()))),
  not: (v) => !truthy(v),
  and: (...a) => a.find((x) => !truthy(x)) ?? a[a.length - 1],
  or: (...a) => a.find(truthy) ?? a[a.length - 1],
  eq: (a, ...b) => b.some((x) => x === a),
  ne: (a, b) => a !== b,
  lt: (a, b) => (a as number) < (b as number),
  le: (a, b) => (a as number) <= (b as number),
  gt: (a, b) => (a as number) > (b as number),
  ge: (a, b) => (a as number) >= (b as number),
};

const truthy = (v: unknown): boolean => !(v === undefined || v === null || v === false || v === 0 || v === '' || (Array.isArray(v) && !v.length) || (typeof v === 'object' && !Array.isArray(v) && !Object.keys(v as object).length));

/** A value as the template prints it. */
function show(v: unknown): string {
  if (v === undefined || v === null) return '<no value>';
  if (Array.isArray(v)) return `[${v.map(show).join(' ')}]`;
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** `{{...}}` actions and the text between, with {{- and -}} trimming the space beside them. */
function lex(tpl: string): ({ text: string } | { act: string })[] {
  const out: ({ text: string } | { act: string })[] = [];
  let i = 0;
  while (i < tpl.length) {
    const open = tpl.indexOf('{{', i);
    if (open < 0) { out.push({ text: tpl.slice(i) }); break; }
    const close = tpl.indexOf('}}', open + 2);
    if (close < 0) throw new TemplateError('template: unclosed action');
    let text = tpl.slice(i, open), act = tpl.slice(open + 2, close);
    if (/^-\s/.test(act)) { text = text.replace(/\s+$/, ''); act = act.slice(1); }
    out.push({ text });
    let end = close + 2;
    if (/\s-$/.test(act)) { act = act.slice(0, -1); end += tpl.slice(end).length - tpl.slice(end).replace(/^\s+/, '').length; }
    out.push({ act: act.trim() });
    i = end;
  }
  return out.filter((x) => !('text' in x) || x.text);
}

/** An action's words: strings, parentheses and | kept whole. */
function words(act: string): string[] {
  const re = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|\(|\)(?:\.[\w.]+)?|\||:=|,|[^\s()|,]+)/gy;
  const out: string[] = [];
  let m: RegExpExecArray | null;
  while ((m = re.exec(act)) && m[1]) out.push(m[1]);
  return out;
}

function parsePipe(ws: string[], at = { i: 0, chain: '' }): Pipe {
  const cmds: Pipe = [[]];
  for (; at.i < ws.length; at.i++) {
    const w = ws[at.i]!;
    if (w.startsWith(')')) { at.chain = w.slice(1); return cmds; } // `(...).Field`: the field is the parenthesis's
    if (w === '|') { cmds.push([]); continue; }
    const cmd = cmds[cmds.length - 1]!;
    if (w === '(') {
      at.i++;
      const pipe = parsePipe(ws, at);
      cmd.push({ k: 'sub', pipe, path: at.chain.split('.').filter(Boolean) });
      at.chain = '';
      continue;
    }
    if (w.startsWith('"')) cmd.push({ k: 'lit', v: JSON.parse(w) as string });
    else if (w.startsWith('`')) cmd.push({ k: 'lit', v: w.slice(1, -1) });
    else if (/^-?\d+(\.\d+)?$/.test(w)) cmd.push({ k: 'lit', v: Number(w) });
    else if (w === 'true' || w === 'false') cmd.push({ k: 'lit', v: w === 'true' });
    else if (w === 'nil') cmd.push({ k: 'lit', v: null });
    else if (w.startsWith('.') || w.startsWith('$')) {
      const [base, ...path] = w.startsWith('.') ? ['.', ...w.slice(1).split('.').filter(Boolean)] : w.split('.');
      cmd.push({ k: 'field', base: base!, path });
    } else if (FUNCS[w]) cmd.push({ k: 'fn', name: w });
    else throw new TemplateError(`template: function "${w}" not defined`);
  }
  if (cmds.some((c) => !c.length)) throw new TemplateError('template: missing value for command');
  return cmds;
}

function parse(tpl: string): Node[] {
  const items = lex(tpl);
  let i = 0;
  const block = (stop: boolean): { nodes: Node[]; ended: string } => {
    const nodes: Node[] = [];
    for (; i < items.length; i++) {
      const it = items[i]!;
      if ('text' in it) { nodes.push({ k: 'text', text: it.text }); continue; }
      if (it.act.startsWith('/*')) continue;
      const ws = words(it.act);
      const head = ws[0];
      if (head === 'end' || head === 'else') { if (!stop) throw new TemplateError(`template: unexpected {{${head}}}`); return { nodes, ended: it.act }; }
      if (head === 'range' || head === 'if' || head === 'with') {
        let rest = ws.slice(1), vars: string[] = [];
        const def = rest.indexOf(':=');
        if (def >= 0) { vars = rest.slice(0, def).filter((w) => w !== ','); rest = rest.slice(def + 1); }
        i++;
        const body = block(true);
        let alt: Node[] = [];
        if (body.ended.startsWith('else')) {
          const more = body.ended.slice(4).trim();
          if (more) { // else if ...: the rest of the chain, as an if in the else branch
            items.splice(i, 1, { act: more });
            alt = [parse1(block)];
          } else { i++; alt = block(true).nodes; }
        }
        nodes.push({ k: head, pipe: parsePipe(rest), vars, body: body.nodes, alt });
        continue;
      }
      nodes.push({ k: 'out', pipe: parsePipe(ws) });
    }
    if (stop) throw new TemplateError('template: unexpected EOF (an {{end}} is missing)');
    return { nodes, ended: '' };
  };
  // an `else if` in place: parse the if it starts up to the chain's one end
  const parse1 = (b: typeof block): Node => {
    const it = items[i] as { act: string };
    const ws = words(it.act);
    i++;
    const body = b(true);
    let alt: Node[] = [];
    if (body.ended.startsWith('else')) {
      const more = body.ended.slice(4).trim();
      if (more) { items.splice(i, 1, { act: more }); alt = [parse1(b)]; } else { i++; alt = b(true).nodes; }
    }
    return { k: ws[0] as 'if', pipe: parsePipe(ws.slice(1)), vars: [], body: body.nodes, alt };
  };
  return block(false).nodes;
}

type Scope = { dot: unknown; vars: Map<string, unknown> };

/** A field of `x` by name: as written, else docker's Go names against JSON keys of another case (.ID for id). */
function field(x: unknown, k: string): unknown {
  const o = x as Record<string, unknown> | undefined;
  if (!o || typeof o !== 'object') return undefined;
  return o[k] ?? o[Object.keys(o).find((key) => key.toLowerCase() === k.toLowerCase()) ?? k];
}

function evalPipe(p: Pipe, s: Scope): unknown {
  let last: unknown, first = true;
  for (const cmd of p) {
    const args = cmd.slice(1).map((o) => operand(o, s));
    if (!first) args.push(last);
    const head = cmd[0]!;
    if (head.k === 'fn') last = FUNCS[head.name]!(...args);
    else if (args.length) throw new TemplateError('template: can\'t give argument to non-function');
    else last = operand(head, s);
    first = false;
  }
  return last;
}

function operand(o: Operand, s: Scope): unknown {
  if (o.k === 'lit') return o.v;
  if (o.k === 'sub') return o.path.reduce(field, evalPipe(o.pipe, s));
  if (o.k === 'fn') return FUNCS[o.name]!();
  let x: unknown;
  if (o.base === '.') x = s.dot;
  else if (o.base === '$') x = s.vars.get('$');
  else if (s.vars.has(o.base)) x = s.vars.get(o.base);
  else throw new TemplateError(`template: undefined variable "${o.base}"`);
  for (const k of o.path) x = field(x, k);
  return x;
}

function run(nodes: Node[], s: Scope, out: string[]): void {
  for (const n of nodes) {
    if (n.k === 'text') { out.push(n.text); continue; }
    if (n.k === 'out') { out.push(show(evalPipe(n.pipe, s))); continue; }
    const v = evalPipe(n.pipe, s);
    if (n.k === 'if') { run(truthy(v) ? n.body : n.alt, s, out); continue; }
    if (n.k === 'with') { if (truthy(v)) run(n.body, { ...s, dot: v }, out); else run(n.alt, s, out); continue; }
    const entries: [unknown, unknown][] = Array.isArray(v) ? v.map((x, i) => [i, x]) : v && typeof v === 'object' ? Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]) : [];
    if (!entries.length) { run(n.alt, s, out); continue; }
    for (const [k, x] of entries) {
      const vars = new Map(s.vars);
      if (n.vars.length === 1) vars.set(n.vars[0]!, x);
      if (n.vars.length === 2) { vars.set(n.vars[0]!, k); vars.set(n.vars[1]!, x); }
      run(n.body, { dot: x, vars }, out);
    }
  }
}

/** `tpl` applied to `v`, as docker's --format applies it. */
export function executeTemplate(tpl: string, v: unknown): string {
  const out: string[] = [];
  run(parse(tpl), { dot: v, vars: new Map([['$', v]]) }, out);
  return out.join('');
}
