// Stages as a graph: a parsed Dockerfile, the build args and the target
// become the stages the target needs, each with its base (an image, an
// earlier stage, or scratch) and the stages it copies from, in an order
// that builds every stage after what it needs. A stage the target does not
// need is not built, as in BuildKit. Pure data: tests read it without root.
import { InvalidInput } from '../util/check.js';
import { type Dockerfile, type Instruction } from './parser.js';
import { expand } from './shell-lex.js';

export interface Stage {
  index: number;
  /** `AS name`, lower case ('' without one) */
  name: string;
  /** the FROM instruction */
  from: Instruction;
  /** the base, expanded: an image reference, 'scratch', or an earlier stage (baseStage) */
  base: string;
  baseStage?: number;
  platform: string;
  instructions: Instruction[];
  /** the earlier stages it needs: its base, COPY --from, RUN --mount from= */
  needs: number[];
}

export interface BuildGraph {
  stages: Stage[];
  /** the indexes of the stages to build, each after those it needs; the target last */
  order: number[];
  target: number;
  /** the ARGs before the first FROM, as the build args set them */
  metaArgs: Map<string, string | undefined>;
}

/** Where an instruction is, for error messages: `Dockerfile:12`. */
export const where = (file: string, n: Instruction) => `${file}:${n.startLine}`;

/** The build's stages from the Dockerfile; `target` names one (default: the last). */
export function planStages(df: Dockerfile, buildArgs: Map<string, string>, target = '', file = 'Dockerfile'): BuildGraph {
  const metaArgs = new Map<string, string | undefined>();
  const stages: Stage[] = [];
  let i = 0;
  for (; i < df.children.length && df.children[i]!.value.toLowerCase() !== 'from'; i++) {
    const n = df.children[i]!;
    if (n.value.toLowerCase() !== 'arg') throw new InvalidInput(where(file, n), `no build stage in current context: ${n.value.toUpperCase()} comes before the first FROM`);
    for (const a of n.next) {
      const [k, v] = splitArg(a, (name) => metaArgs.get(name));
      metaArgs.set(k, buildArgs.has(k) ? buildArgs.get(k) : v);
    }
  }
  if (i === df.children.length) throw new InvalidInput(file, 'the Dockerfile has no FROM');
  const lookup = (k: string) => metaArgs.get(k);
  for (const n of df.children.slice(i)) {
    if (n.value.toLowerCase() !== 'from') { stages[stages.length - 1]!.instructions.push(n); continue; }
    stages.push(stageOf(n, stages, lookup, file));
  }
  const t = target ? stages.findIndex((s) => s.name === target.toLowerCase()) : stages.length - 1;
  if (t < 0) throw new InvalidInput('target', `target stage "${target}" could not be found`);
  for (const s of stages) s.needs = [...new Set([...(s.baseStage !== undefined ? [s.baseStage] : []), ...s.instructions.flatMap((n) => fromStages(n, s, stages, file))])];
  const order: number[] = [];
  const visit = (k: number) => {
    if (order.includes(k)) return;
    for (const d of stages[k]!.needs) visit(d);
    order.push(k);
  };
  visit(t);
  return { stages, order, target: t, metaArgs };
}

/** Build args a RUN gets without an ARG for them (docker's proxy args), when --build-arg sets them. */
export const PREDEFINED = new Set(['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy']);

/** `NAME` or `NAME=default` (the default expanded with what is set so far). */
export function splitArg(word: string, env: (k: string) => string | undefined): [string, string | undefined] {
  const eq = word.indexOf('=');
  if (eq === 0) throw new InvalidInput('ARG', `invalid name in "${word}"`);
  if (eq < 0) return [word, undefined];
  return [word.slice(0, eq), expand(word.slice(eq + 1), env).word];
}

function stageOf(n: Instruction, stages: Stage[], lookup: (k: string) => string | undefined, file: string): Stage {
  const flags = parseFlags(n, ['platform'], file);
  const args = n.next;
  if (args.length !== 1 && !(args.length === 3 && args[1]!.toLowerCase() === 'as')) {
    throw new InvalidInput(where(file, n), 'FROM requires either one or three arguments: FROM <image> [AS <name>]');
  }
  const name = (args[2] ?? '').toLowerCase();
  if (name && !/^[a-z][a-z0-9\-_.]*$/.test(name)) throw new InvalidInput(where(file, n), `invalid name for build stage: "${args[2]}", name can't start with a number or contain symbols`);
  if (name && stages.some((s) => s.name === name)) throw new InvalidInput(where(file, n), `duplicate stage name "${name}"`);
  const base = expand(args[0]!, lookup).word;
  if (!base) throw new InvalidInput(where(file, n), `base name (${args[0]}) should not be blank`);
  const earlier = stages.findIndex((s) => s.name === base.toLowerCase());
  return {
    index: stages.length, name, from: n, base, ...(earlier >= 0 && { baseStage: earlier }),
    platform: expand(flags.get('platform') ?? '', lookup).word, instructions: [], needs: [],
  };
}

/** The stages an instruction reads from: COPY/ADD --from=NAME|INDEX, RUN --mount=...,from=NAME (an image otherwise). */
function fromStages(n: Instruction, s: Stage, stages: Stage[], file: string): number[] {
  const kw = n.value.toLowerCase();
  const refs: string[] = [];
  if (kw === 'copy' || kw === 'add') { const f = parseFlags(n, COPY_FLAGS, file).get('from'); if (f) refs.push(f); }
  if (kw === 'run') for (const m of n.flags.filter((f) => f.startsWith('--mount='))) { const f = /(?:^|,)from=([^,]+)/.exec(m.slice(8))?.[1]; if (f) refs.push(f); }
  return refs.map((r) => stageRef(r, s, stages, n, file)).filter((x): x is number => x !== undefined);
}

/** A --from value as a stage: by name, or by index of an earlier stage; undefined for an image. */
export function stageRef(ref: string, s: Stage, stages: Stage[], n: Instruction, file: string): number | undefined {
  if (/^\d+$/.test(ref)) {
    const k = Number(ref);
    if (k >= s.index) throw new InvalidInput(where(file, n), `invalid from flag value ${ref}: refers to current or future build stage`);
    return k;
  }
  const k = stages.findIndex((x) => x.name === ref.toLowerCase());
  if (k === s.index) throw new InvalidInput(where(file, n), `invalid from flag value ${ref}: circular dependency detected`);
  return k >= 0 && k < s.index ? k : undefined;
}

export const COPY_FLAGS = ['from', 'chown', 'chmod', 'link', 'parents', 'exclude', 'checksum', 'keep-git-dir'];

/** An instruction's --flags by name; an unknown flag is refused by name, as BuildKit refuses it. */
export function parseFlags(n: Instruction, known: string[], file: string, repeatable: string[] = []): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of n.flags) {
    const m = /^--([a-zA-Z0-9-]+)(?:=(.*))?$/s.exec(f);
    if (!m || !known.includes(m[1]!)) throw new InvalidInput(where(file, n), `unknown flag: ${f.split('=')[0]}`);
    const v = m[2] ?? 'true';
    out.set(m[1]!, repeatable.includes(m[1]!) && out.has(m[1]!) ? `${out.get(m[1]!)}\n${v}` : v);
  }
  return out;
}
