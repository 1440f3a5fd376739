// Compiles an OCI seccomp profile into a classic BPF program for
// seccomp(SECCOMP_SET_MODE_FILTER). The program checks the architecture,
// dispatches on the syscall number and checks 64-bit arguments as two
// 32-bit halves, like libseccomp does.
import type { Action, ArgCond, SeccompConfig, SyscallRule } from './config.js';
import { FLAGS } from './config.js';
import { SYSCALLS } from './syscalls.js';

// BPF opcodes
const LD_W_ABS = 0x20, JMP_JA = 0x05, JEQ_K = 0x15, JGT_K = 0x25, JGE_K = 0x35, RET_K = 0x06, ALU_AND_K = 0x54;
// struct seccomp_data offsets
const OFF_NR = 0, OFF_ARCH = 4, OFF_ARGS = 16;
const AUDIT_ARCH_X86_64 = 0xc000003e, AUDIT_ARCH_I386 = 0x40000003;
const X32_BIT = 0x40000000;
const EPERM = 1;

const RET: Record<Action, number> = {
  SCMP_ACT_KILL: 0x00000000, SCMP_ACT_KILL_THREAD: 0x00000000, SCMP_ACT_KILL_PROCESS: 0x80000000,
  SCMP_ACT_TRAP: 0x00030000, SCMP_ACT_ERRNO: 0x00050000, SCMP_ACT_TRACE: 0x7ff00000,
  SCMP_ACT_LOG: 0x7ffc0000, SCMP_ACT_ALLOW: 0x7fff0000, SCMP_ACT_NOTIFY: 0x7fc00000,
};

// A label is bound to the instruction emitted after it is placed, so that
// inserting trampolines keeps every jump pointing where it was meant to.
type Insn = { code: number; jt?: Label; jf?: Label; k: number; to?: Label };
type Label = { insn?: Insn };
const isCond = (code: number) => (code & 0x07) === 0x05 && (code & 0xf0) !== 0;
const BPF_MAXINSNS = 4096;

class Asm {
  insns: Insn[] = [];
  private pending: Label[] = [];
  private ahead = new Map<number, Label>();
  label(): Label { return {}; }
  place(l: Label): void { this.pending.push(l); }
  /** jt/jf: a label, or a count of instructions to skip as in raw BPF. */
  emit(code: number, k: number | Label, jt: number | Label = 0, jf: number | Label = 0): Insn {
    const idx = this.insns.length;
    const ref = (t: number | Label): Label => {
      if (typeof t !== 'number') return t;
      const at = idx + 1 + t;
      if (!this.ahead.has(at)) this.ahead.set(at, {});
      return this.ahead.get(at)!;
    };
    const ins: Insn = typeof k === 'number' ? { code, k } : { code, k: 0, to: k };
    if (isCond(code)) { ins.jt = ref(jt); ins.jf = ref(jf); }
    for (const l of this.pending) l.insn = ins;
    this.pending = [];
    const a = this.ahead.get(idx);
    if (a) { a.insn = ins; this.ahead.delete(idx); }
    this.insns.push(ins);
    return ins;
  }
  /** Conditional jumps reach 255 instructions; farther ones go through an inserted `ja`. */
  assemble(): Buffer {
    if (this.pending.length || this.ahead.size) throw new Error('seccomp: a label points past the program');
    const insns = this.insns;
    for (let changed = true; changed;) {
      changed = false;
      const pos = new Map(insns.map((x, i) => [x, i]));
      for (let i = 0; i < insns.length; i++) {
        const ins = insns[i]!;
        for (const side of ['jt', 'jf'] as const) {
          const t = ins[side];
          if (!t || pos.get(t.insn!)! - i - 1 <= 255) continue;
          const tramp: Insn = { code: JMP_JA, k: 0, to: t };
          insns.splice(i + 1, 0, tramp);
          ins[side] = { insn: tramp };
          changed = true;
          break;
        }
        if (changed) break;
      }
    }
    if (insns.length > BPF_MAXINSNS) throw new Error(`seccomp: the profile compiles to ${insns.length} BPF instructions, over the kernel's ${BPF_MAXINSNS}`);
    const pos = new Map(insns.map((x, i) => [x, i]));
    const buf = Buffer.alloc(insns.length * 8);
    insns.forEach((ins, i) => {
      const rel = (l?: Label) => (l ? pos.get(l.insn!)! - i - 1 : 0);
      const k = ins.to ? rel(ins.to) : ins.k;
      if (rel(ins.jt) < 0 || rel(ins.jf) < 0 || k < 0 && ins.to) throw new Error(`seccomp: backward jump at instruction ${i}`);
      buf.writeUInt16LE(ins.code, i * 8);
      buf.writeUInt8(rel(ins.jt), i * 8 + 2);
      buf.writeUInt8(rel(ins.jf), i * 8 + 3);
      buf.writeUInt32LE(k >>> 0, i * 8 + 4);
    });
    return buf;
  }
}

function retValue(action: Action, errno: number | undefined, dflt: number | undefined): number {
  const base = RET[action];
  if (action === 'SCMP_ACT_ERRNO') return (base | ((errno ?? dflt ?? EPERM) & 0xffff)) >>> 0;
  if (action === 'SCMP_ACT_TRACE') return (base | ((errno ?? dflt ?? EPERM) & 0xffff)) >>> 0;
  return base;
}

const lo32 = (v: bigint) => Number(v & 0xffffffffn);
const hi32 = (v: bigint) => Number((v >> 32n) & 0xffffffffn);

/** Emits a check of one argument; jumps to `fail` when it does not hold. */
function emitArg(a: Asm, c: ArgCond, fail: Label, wide: boolean): void {
  const lo = OFF_ARGS + c.index * 8, hi = lo + 4;
  const ok = a.label();
  // compare (x_hi, x_lo) with (v_hi, v_lo) lexicographically
  const cmp = (v: bigint, strict: boolean, want: 'gt' | 'lt') => {
    // want gt: x > v (strict) or x >= v; want lt: the negation of the above is used
    const pass = want === 'gt' ? ok : fail, stop = want === 'gt' ? fail : ok;
    if (wide) {
      a.emit(LD_W_ABS, hi);
      a.emit(JGT_K, hi32(v), pass, 0);
      a.emit(JEQ_K, hi32(v), 0, stop);
    }
    a.emit(LD_W_ABS, lo);
    a.emit(strict ? JGT_K : JGE_K, lo32(v), pass, stop);
  };
  switch (c.op) {
    case 'SCMP_CMP_EQ':
    case 'SCMP_CMP_NE':
    case 'SCMP_CMP_MASKED_EQ': {
      const masked = c.op === 'SCMP_CMP_MASKED_EQ';
      const mask = c.value, val = masked ? c.valueTwo : c.value;
      const match = c.op === 'SCMP_CMP_NE' ? fail : ok, miss = c.op === 'SCMP_CMP_NE' ? ok : fail;
      if (wide) {
        a.emit(LD_W_ABS, hi);
        if (masked) a.emit(ALU_AND_K, hi32(mask));
        a.emit(JEQ_K, hi32(val), 0, miss);
      }
      a.emit(LD_W_ABS, lo);
      if (masked) a.emit(ALU_AND_K, lo32(mask));
      a.emit(JEQ_K, lo32(val), match, miss);
      break;
    }
    case 'SCMP_CMP_GT': cmp(c.value, true, 'gt'); break;
    case 'SCMP_CMP_GE': cmp(c.value, false, 'gt'); break;
    case 'SCMP_CMP_LE': cmp(c.value, true, 'lt'); break; // x <= v  <=>  !(x > v)
    case 'SCMP_CMP_LT': cmp(c.value, false, 'lt'); break; // x < v   <=>  !(x >= v)
  }
  a.place(ok);
}

type Abi = keyof typeof SYSCALLS;

/** Rules of the profile that apply to one ABI, grouped by syscall number in profile order. */
function rulesFor(cfg: SeccompConfig, abi: Abi): Map<number, SyscallRule[]> {
  const table = SYSCALLS[abi];
  const by = new Map<number, SyscallRule[]>();
  for (const rule of cfg.syscalls) {
    for (const name of rule.names) {
      const nr = table[name];
      if (nr === undefined) continue; // not a syscall of this ABI (libseccomp skips these too)
      const list = by.get(nr) ?? [];
      list.push(rule);
      by.set(nr, list);
    }
  }
  return by;
}

/**
 * One audit architecture: a binary search over the syscall number. Runs of
 * numbers with the same outcome become one range, so the common profiles
 * (hundreds of allowed calls) need a few hundred instructions, and each call
 * takes about log2(ranges) comparisons.
 */
function emitArch(a: Asm, cfg: SeccompConfig, abis: { abi: Abi; from: number; to: number; on: boolean }[], dflt: number, badArch: number): void {
  const rets = new Map<number, Label>();
  const ret = (v: number) => { if (!rets.has(v)) rets.set(v, a.label()); return rets.get(v)!; };
  const blocks: { label: Label; rules: SyscallRule[]; wide: boolean }[] = [];
  // ranges [start, next start) with a target; numbers are unsigned 32-bit
  const starts: number[] = [];
  const targets: Label[] = [];
  const add = (start: number, target: Label) => {
    if (targets.length && targets[targets.length - 1] === target) return;
    starts.push(start);
    targets.push(target);
  };
  for (const { abi, from, to, on } of abis) {
    if (!on) { add(from, ret(badArch)); continue; }
    const rules = [...rulesFor(cfg, abi)].sort((x, y) => x[0] - y[0]);
    let next = from;
    for (const [nr, list] of rules) {
      if (nr < from || nr >= to) continue;
      if (nr > next) add(next, ret(dflt));
      const first = list[0]!;
      let target: Label;
      if (first.args.length === 0) target = ret(retValue(first.action, first.errnoRet, cfg.defaultErrnoRet));
      else {
        target = a.label();
        blocks.push({ label: target, rules: list, wide: abi !== 'x86' });
      }
      add(nr, target);
      next = nr + 1;
    }
    if (next < to) add(next, ret(dflt));
  }
  a.emit(LD_W_ABS, OFF_NR);
  const tree = (lo: number, hi: number): Label => {
    if (lo === hi) return targets[lo]!;
    const here = a.label();
    a.place(here);
    const mid = (lo + hi + 1) >> 1;
    const ins = a.emit(JGE_K, starts[mid]!, a.label(), a.label());
    ins.jf = tree(lo, mid - 1);
    ins.jt = tree(mid, hi);
    return here;
  };
  const root = tree(0, starts.length - 1);
  if (starts.length === 1) a.emit(JMP_JA, root);
  for (const { label, rules, wide } of blocks) {
    a.place(label);
    for (const r of rules) {
      const next = a.label();
      for (const c of r.args) emitArg(a, c, next, wide);
      a.emit(RET_K, retValue(r.action, r.errnoRet, cfg.defaultErrnoRet));
      a.place(next);
    }
    a.emit(RET_K, dflt);
  }
  for (const [v, l] of rets) { a.place(l); a.emit(RET_K, v); }
}

export interface CompiledSeccomp { program: Buffer; flags: number }

/** Compiles for the x86 family this host runs; other architectures cannot reach this kernel. */
export function compileSeccomp(cfg: SeccompConfig): CompiledSeccomp {
  const arches = new Set(cfg.architectures.length ? cfg.architectures : ['SCMP_ARCH_X86_64']);
  const dflt = retValue(cfg.defaultAction, undefined, cfg.defaultErrnoRet);
  const badArch = RET.SCMP_ACT_KILL_PROCESS;
  const a = new Asm();
  const x86 = a.label();
  a.emit(LD_W_ABS, OFF_ARCH);
  a.emit(JEQ_K, AUDIT_ARCH_I386, x86, 0);
  a.emit(JEQ_K, AUDIT_ARCH_X86_64, 0, 1);
  const x64 = a.label();
  a.emit(JMP_JA, x64);
  a.emit(RET_K, badArch);
  // x32 calls arrive under AUDIT_ARCH_X86_64 with bit 30 set in the number
  a.place(x64);
  emitArch(a, cfg, [
    { abi: 'x86_64', from: 0, to: X32_BIT, on: arches.has('SCMP_ARCH_X86_64') },
    { abi: 'x32', from: X32_BIT, to: 2 ** 32, on: arches.has('SCMP_ARCH_X32') },
  ], dflt, badArch);
  a.place(x86);
  emitArch(a, cfg, [{ abi: 'x86', from: 0, to: 2 ** 32, on: arches.has('SCMP_ARCH_X86') }], dflt, badArch);

  let flags = 0;
  for (const f of cfg.flags) flags |= FLAGS[f as keyof typeof FLAGS];
  if (cfg.defaultAction === 'SCMP_ACT_NOTIFY' || cfg.syscalls.some((s) => s.action === 'SCMP_ACT_NOTIFY')) {
    flags |= FLAGS.SECCOMP_FILTER_FLAG_NEW_LISTENER;
  }
  return { program: a.assemble(), flags };
}
