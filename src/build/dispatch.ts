// What each instruction means for a stage: the image config it changes, or
// the RUN or COPY step it asks for, with words expanded as the Dockerfile
// reference says (ENV before ARG; RUN, CMD and ENTRYPOINT left to the shell)
// and the history line docker's classic builder writes for it. Pure data.
import { InvalidInput } from '../util/check.js';
import { goDurationNs } from '../util/duration.js';
import { expand } from './shell-lex.js';
import { goQuote, type Instruction } from './parser.js';
import { COPY_FLAGS, PREDEFINED, parseFlags, splitArg, where } from './stages.js';

/** An image's run config, as the image spec (and docker's extensions: Healthcheck, OnBuild, Shell) has it. */
export interface ContainerConfig {
  User?: string; ExposedPorts?: Record<string, object>; Env?: string[]; Entrypoint?: string[] | null; Cmd?: string[] | null;
  Volumes?: Record<string, object> | null; WorkingDir?: string; Labels?: Record<string, string> | null; StopSignal?: string; ArgsEscaped?: boolean;
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; StartInterval?: number; Retries?: number };
  OnBuild?: string[] | null; Shell?: string[];
}

export interface StageState {
  config: ContainerConfig;
  /** ARGs declared in this stage, with their values (build args win over defaults) */
  args: Map<string, string | undefined>;
  buildArgs: ReadonlyMap<string, string>;
  /** the meta ARGs (before the first FROM); an ARG without a value in a stage takes one of these */
  metaArgs: ReadonlyMap<string, string | undefined>;
  /** build args some ARG declared (the others are reported unused) */
  used: Set<string>;
  /** a CMD was given in this stage (ENTRYPOINT then keeps it; otherwise it clears the base's) */
  cmdSet: boolean;
  /** MAINTAINER's name, the image's author */
  author: string;
  file: string;
}

export interface RunStep {
  kind: 'run'; n: Instruction; argv: string[]; env: string[]; createdBy: string;
  network: string; mounts: string[];
  /** heredocs given to the command (a script, or files on other fds) */
  heredocs: Instruction['heredocs'];
}
export interface CopyStep {
  kind: 'copy'; n: Instruction; add: boolean; sources: string[]; dest: string; from?: string;
  /** COPY <<NAME: files the Dockerfile itself holds (their text expanded as the heredoc says) */
  inline: { name: string; text: string }[];
  chown?: string; chmod?: string; link: boolean; parents: boolean; excludes: string[]; checksum?: string;
  heredocs: Instruction['heredocs'];
  /** the history line without the content part (COPY file:<digest> in /dest) */
  what: string;
}
export interface ConfigStep { kind: 'config'; n: Instruction; createdBy: string }
/** WORKDIR: the directory is made (0755, root's) and committed, as docker's classic builder does */
export interface WorkdirStep { kind: 'workdir'; n: Instruction; dir: string; createdBy: string }
export type Step = RunStep | CopyStep | ConfigStep | WorkdirStep;

/** Go's %q of a string slice, as the classic builder's history lines print CMD and ENTRYPOINT. */
const goList = (xs: string[]) => `[${xs.map(goQuote).join(' ')}]`;

/** Go's time.Duration String(): 5s, 1m30s, 500ms, 0s. */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  if (ns < 1e9) return ns % 1e6 === 0 ? `${ns / 1e6}ms` : ns % 1e3 === 0 ? `${ns / 1e3}µs` : `${ns}ns`;
  const h = Math.floor(ns / 3600e9), m = Math.floor((ns % 3600e9) / 60e9), sec = (ns % 60e9) / 1e9;
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${Number(sec.toFixed(9))}s`;
}

/** The environment words are expanded in: the image's ENV over the stage's ARGs. */
function lookup(s: StageState): (k: string) => string | undefined {
  const env = new Map<string, string>();
  for (const [k, v] of s.args) if (v !== undefined) env.set(k, v);
  for (const e of s.config.Env ?? []) { const i = e.indexOf('='); env.set(e.slice(0, i), e.slice(i + 1)); }
  return (k) => env.get(k);
}

const word = (s: StageState, w: string) => expand(w, lookup(s)).word;
const words = (s: StageState, ws: string[]) => ws.map((w) => word(s, w));

/** KEY=VALUE in the image's Env: an earlier one of the same name is replaced where it is (docker keeps the order). */
export function setEnv(env: string[], key: string, value: string): string[] {
  const i = env.findIndex((e) => e.slice(0, e.indexOf('=')) === key);
  return i < 0 ? [...env, `${key}=${value}`] : env.map((e, k) => (k === i ? `${key}=${value}` : e));
}

/** The shell form's argv: the stage's SHELL (default /bin/sh -c) and the command line. */
function shellForm(s: StageState, n: Instruction): string[] {
  return n.json ? [...n.next] : [...(s.config.Shell ?? ['/bin/sh', '-c']), n.next[0] ?? ''];
}

/** Carries out one instruction on the stage's state: a config change (done here) or a step for the builder. */
export function dispatch(s: StageState, n: Instruction): Step {
  const kw = n.value.toLowerCase();
  const c = s.config;
  const at = where(s.file, n);
  // the classic builder's history line: the stage's shell, then what changed
  const nop = (text: string): ConfigStep => ({ kind: 'config', n, createdBy: `${(c.Shell ?? ['/bin/sh', '-c']).join(' ')} #(nop) ${text}` });
  switch (kw) {
    case 'env': {
      if (!n.next.length) throw new InvalidInput(at, 'ENV requires at least one argument');
      const pairs: string[] = [];
      for (let i = 0; i + 2 < n.next.length + 1; i += 3) {
        const k = word(s, n.next[i]!), v = word(s, n.next[i + 1] ?? '');
        if (!k) throw new InvalidInput(at, 'ENV names must not be empty');
        c.Env = setEnv(c.Env ?? [], k, v);
        pairs.push(`${k}=${v}`);
      }
      return nop(` ENV ${pairs.join(' ')}`);
    }
    case 'label': {
      if (!n.next.length) throw new InvalidInput(at, 'LABEL requires at least one argument');
      const pairs: string[] = [];
      for (let i = 0; i < n.next.length; i += 3) {
        const k = word(s, n.next[i]!), v = word(s, n.next[i + 1] ?? '');
        if (!k) throw new InvalidInput(at, 'LABEL names must not be empty');
        c.Labels = { ...(c.Labels ?? {}), [k]: v };
        pairs.push(`${k}=${v}`);
      }
      return nop(` LABEL ${pairs.join(' ')}`);
    }
    case 'maintainer': s.author = n.next[0] ?? ''; return nop(` MAINTAINER ${s.author}`);
    case 'arg': {
      if (!n.next.length) throw new InvalidInput(at, 'ARG requires at least one argument');
      for (const a of n.next) {
        const [k, def] = splitArg(a, lookup(s));
        s.used.add(k);
        s.args.set(k, s.buildArgs.has(k) ? s.buildArgs.get(k) : def ?? s.metaArgs.get(k));
      }
      return nop(` ARG ${n.next.join(' ')}`);
    }
    case 'workdir': {
      const dir = word(s, n.next[0] ?? '');
      if (!dir) throw new InvalidInput(at, 'WORKDIR requires exactly one argument');
      c.WorkingDir = dir.startsWith('/') ? normalize(dir) : normalize(`${c.WorkingDir || '/'}/${dir}`);
      return { kind: 'workdir', n, dir: c.WorkingDir, createdBy: nop(`WORKDIR ${c.WorkingDir}`).createdBy };
    }
    case 'user': {
      if (n.next.length !== 1) throw new InvalidInput(at, 'USER requires exactly one argument');
      c.User = word(s, n.next[0]!);
      return nop(` USER ${c.User}`);
    }
    case 'expose': {
      if (!n.next.length) throw new InvalidInput(at, 'EXPOSE requires at least one argument');
      const given = words(s, n.next);
      c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
      for (const p of given.flatMap((x) => exposed(x, at))) c.ExposedPorts[p] = {};
      return nop(` EXPOSE ${[...given].sort().join(' ')}`); // docker's line lists them sorted
    }
    case 'volume': {
      const vols = words(s, n.next).filter((v) => v.trim());
      if (!vols.length) throw new InvalidInput(at, 'VOLUME specified can not be an empty string');
      c.Volumes = { ...(c.Volumes ?? {}) };
      for (const v of vols) c.Volumes[v] = {};
      return nop(` VOLUME [${vols.join(' ')}]`);
    }
    case 'stopsignal': {
      const sig = word(s, n.next[0] ?? '');
      if (!/^(SIG)?[A-Z0-9+-]+$|^\d+$/i.test(sig)) throw new InvalidInput(at, `invalid signal: ${sig}`);
      c.StopSignal = sig;
      return nop(` STOPSIGNAL ${sig}`);
    }
    case 'cmd': {
      c.Cmd = shellForm(s, n);
      s.cmdSet = true;
      return nop(` CMD ${goList(c.Cmd)}`);
    }
    case 'entrypoint': {
      c.Entrypoint = n.next.length ? shellForm(s, n) : null;
      if (!s.cmdSet) c.Cmd = null; // the base's CMD goes with a new ENTRYPOINT
      return nop(` ENTRYPOINT ${goList(c.Entrypoint ?? [])}`);
    }
    case 'shell': {
      if (!n.json) throw new InvalidInput(at, 'SHELL requires the arguments to be in JSON form');
      if (!n.next.length) throw new InvalidInput(at, 'SHELL requires at least one argument');
      c.Shell = [...n.next];
      return nop(` SHELL [${c.Shell.join(' ')}]`);
    }
    case 'healthcheck': return healthcheck(s, n, at, nop);
    case 'onbuild': {
      const sub = n.sub?.value.toUpperCase();
      if (!sub) throw new InvalidInput(at, 'ONBUILD requires at least one argument');
      if (sub === 'ONBUILD') throw new InvalidInput(at, 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
      if (sub === 'FROM' || sub === 'MAINTAINER') throw new InvalidInput(at, `${sub} isn't allowed as an ONBUILD trigger`);
      const text = n.original.trim().replace(/^onbuild\s+/i, '');
      c.OnBuild = [...(c.OnBuild ?? []), text];
      return nop(`ONBUILD ${text}`);
    }
    case 'run': return runStep(s, n, at);
    case 'copy': case 'add': return copyStep(s, n, kw === 'add', at);
    default: throw new InvalidInput(at, `unknown instruction: ${n.value.toUpperCase()}`);
  }
}

function normalize(p: string): string {
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (!part || part === '.') continue;
    if (part === '..') out.pop(); else out.push(part);
  }
  return `/${out.join('/')}`;
}

/** EXPOSE's ports: 80, 80/udp, 8000-8002 (each port of a range). */
function exposed(p: string, at: string): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(p);
  if (!m) throw new InvalidInput(at, `invalid containerPort: ${p}`);
  const first = Number(m[1]), last = m[2] ? Number(m[2]) : first;
  if (first < 1 || last > 65535 || last < first) throw new InvalidInput(at, `invalid port range: ${p}`);
  const proto = (m[3] ?? 'tcp').toLowerCase();
  return Array.from({ length: last - first + 1 }, (_, i) => `${first + i}/${proto}`);
}

/** A Go duration as HEALTHCHECK's flags write it (30s, 1m30s, 500ms) in nanoseconds. */
export function duration(v: string, at: string, flag: string): number {
  const ns = goDurationNs(v);
  if (ns === undefined) throw new InvalidInput(at, `--${flag}: invalid duration ${JSON.stringify(v)}`);
  return ns;
}

function healthcheck(s: StageState, n: Instruction, at: string, nop: (t: string) => ConfigStep): ConfigStep {
  const flags = parseFlags(n, ['interval', 'timeout', 'start-period', 'start-interval', 'retries'], s.file);
  const type = (n.next[0] ?? '').toUpperCase();
  if (type === 'NONE') {
    if (n.next.length > 1 || flags.size) throw new InvalidInput(at, 'HEALTHCHECK NONE takes no arguments');
    s.config.Healthcheck = { Test: ['NONE'] };
    return nop(` HEALTHCHECK &{["NONE"] "0s" "0s" "0s" '\\x00'}`);
  }
  if (type !== 'CMD') throw new InvalidInput(at, `Unknown type "${n.next[0] ?? ''}" in HEALTHCHECK (try CMD)`);
  if (n.next.length < 2) throw new InvalidInput(at, 'Missing command after HEALTHCHECK CMD');
  const hc: NonNullable<ContainerConfig['Healthcheck']> = {
    Test: n.json ? ['CMD', ...n.next.slice(1)] : ['CMD-SHELL', n.next[1]!],
  };
  const d = (f: string, key: 'Interval' | 'Timeout' | 'StartPeriod' | 'StartInterval') => { const v = flags.get(f); if (v !== undefined) hc[key] = duration(v, at, f); };
  d('interval', 'Interval'); d('timeout', 'Timeout'); d('start-period', 'StartPeriod'); d('start-interval', 'StartInterval');
  const r = flags.get('retries');
  if (r !== undefined) {
    if (!/^\d+$/.test(r) || Number(r) < 1) throw new InvalidInput(at, '--retries must be at least 1');
    hc.Retries = Number(r);
  }
  s.config.Healthcheck = hc;
  // Go's %v of the struct, durations and the retry count %q-quoted, as the classic builder prints it
  const retries = `'\\x${(hc.Retries ?? 0).toString(16).padStart(2, '0')}'`;
  return nop(` HEALTHCHECK &{${goList(hc.Test!)} "${goDuration(hc.Interval ?? 0)}" "${goDuration(hc.Timeout ?? 0)}" "${goDuration(hc.StartPeriod ?? 0)}" ${retries}}`);
}

/** The build args a RUN sees: the stage's ARGs with values, and the proxy args when given. */
export function argEnv(s: StageState): string[] {
  const out: string[] = [];
  for (const [k, v] of s.args) if (v !== undefined) out.push(`${k}=${v}`);
  for (const k of PREDEFINED) if (s.buildArgs.has(k) && !s.args.has(k)) out.push(`${k}=${s.buildArgs.get(k)}`);
  return out.sort();
}

/** A heredoc's text as the build gives it: leading tabs gone for <<-, and expanded unless its name was quoted. */
function heredocText(s: StageState, h: Instruction['heredocs'][number]): string {
  const text = h.chomp ? h.content.replace(/^\t+/gm, '') : h.content;
  return h.expand ? expand(text, lookup(s), { escape: '\\' }).word : text;
}

/**
 * RUN with heredocs, as BuildKit runs it: a command that is only a heredoc
 * runs its text as the script; otherwise the shell gets the line and the
 * heredocs after it, and feeds them to the command as a shell does.
 */
function heredocArgv(s: StageState, n: Instruction): string[] {
  const shell = s.config.Shell ?? ['/bin/sh', '-c'];
  const line = n.next[0] ?? '';
  if (/^\d*<<-?\S+$/.test(line.trim()) && n.heredocs.length === 1) return [...shell, heredocText(s, n.heredocs[0]!)];
  return [...shell, `${line}\n${n.heredocs.map((h) => `${h.content}${h.name}\n`).join('')}`];
}

function runStep(s: StageState, n: Instruction, at: string): RunStep {
  const flags = parseFlags(n, ['mount', 'network', 'security'], s.file, ['mount']);
  const network = flags.get('network') ?? 'default';
  if (!['default', 'none', 'host'].includes(network)) throw new InvalidInput(at, `unsupported network mode: ${network}`);
  if (!n.next.length) throw new InvalidInput(at, 'RUN requires at least one argument');
  const argv = n.heredocs.length ? heredocArgv(s, n) : shellForm(s, n);
  const args = argEnv(s);
  // the classic builder's history line: the build args the command saw, then the command
  const createdBy = `${args.length ? `|${args.length} ${args.join(' ')} ` : ''}${argv.join(' ')}`;
  const env = [...(s.config.Env ?? [])];
  for (const a of args) { const k = a.slice(0, a.indexOf('=')); if (!env.some((e) => e.startsWith(`${k}=`))) env.push(a); }
  return { kind: 'run', n, argv, env, createdBy, network, mounts: flags.get('mount')?.split('\n') ?? [], heredocs: n.heredocs };
}

function copyStep(s: StageState, n: Instruction, add: boolean, at: string): CopyStep {
  const flags = parseFlags(n, COPY_FLAGS, s.file, ['exclude']);
  // a heredoc source (<<NAME) names a file the Dockerfile holds; the others are expanded
  const all = n.next.map((w) => (n.heredocs.some((h) => new RegExp(`^\\d*<<-?['"]?${h.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}['"]?$`).test(w)) ? `<<${n.heredocs.find((h) => w.includes(h.name))!.name}` : word(s, w)));
  if (all.length < 2) throw new InvalidInput(at, `${add ? 'ADD' : 'COPY'} requires at least two arguments, but only one was provided. Destination could not be determined`);
  const dest = all[all.length - 1]!;
  const from = flags.get('from');
  if (from && add) throw new InvalidInput(at, 'ADD does not take --from; use COPY --from');
  const chown = flags.has('chown') ? word(s, flags.get('chown')!) : undefined;
  const chmod = flags.get('chmod');
  if (chmod !== undefined && !/^[0-7]{3,4}$/.test(chmod)) throw new InvalidInput(at, `invalid chmod parameter: ${chmod}: octal modes only (e.g. 0755)`);
  return {
    kind: 'copy', n, add, sources: all.slice(0, -1), dest, ...(from !== undefined && { from }), ...(chown !== undefined && { chown }), ...(chmod !== undefined && { chmod }),
    link: flags.get('link') === 'true', parents: flags.get('parents') === 'true', excludes: flags.get('exclude')?.split('\n') ?? [],
    ...(flags.has('checksum') && { checksum: flags.get('checksum') }), heredocs: n.heredocs,
    inline: n.heredocs.map((h) => ({ name: h.name, text: heredocText(s, h) })),
    // docker's line: the --chown flag, then (with no space, as dockerd 20.10 writes it) what was copied
    what: `${add ? 'ADD' : 'COPY'}${chown !== undefined ? ` --chown=${chown}` : ''}`,
  };
}
