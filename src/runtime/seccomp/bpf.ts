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

type Label = { at: number };
type Insn = { code: number; jt: number | Label; jf: number | Label; k: number | Label };

class Asm {
  insns: Insn[] = [];
  label(): Label { return { at: -1 }; }
  place(l: Label): void { l.at = this.insns.length; }
  emit(code: number, k: number | Label, jt: number | Label = 0, jf: number | Label = 0): void {
    this.insns.push({ code, jt, jf, k });
  }
  /** Resolves labels; conditional jumps must be short (the layout keeps them so). */
  assemble(): Buffer {
    if (this.insns.length > 4096) throw new Error(`seccomp: the profile compiles to ${this.insns.length} BPF instructions, over the kernel's 4096`);
    const buf = Buffer.alloc(this.insns.length * 8);
    this.insns.forEach((ins, i) => {
      const rel = (t: number | Label) => (typeof t === 'number' ? t : t.at - i - 1);
      const jt = rel(ins.jt), jf = rel(ins.jf);
      const k = ins.code === JMP_JA ? rel(ins.k) : (ins.k as number);
      if (jt < 0 || jt > 255 || jf < 0 || jf > 255) throw new Error(`seccomp: jump out of range at instruction ${i}`);
      buf.writeUInt16LE(ins.code, i * 8);
      buf.writeUInt8(jt, i * 8 + 2);
      buf.writeUInt8(jf, i * 8 + 3);
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

function emitAbi(a: Asm, cfg: SeccompConfig, abi: Abi, dflt: number): void {
  const wide = abi !== 'x86';
  const blocks: { label: Label; rules: SyscallRule[] }[] = [];
  a.emit(LD_W_ABS, OFF_NR);
  for (const [nr, rules] of rulesFor(cfg, abi)) {
    const label = a.label();
    blocks.push({ label, rules });
    a.emit(JEQ_K, nr, 0, 1);
    a.emit(JMP_JA, label);
  }
  a.emit(RET_K, dflt);
  for (const { label, rules } of blocks) {
    a.place(label);
    for (const r of rules) {
      const next = a.label();
      for (const c of r.args) emitArg(a, c, next, wide);
      a.emit(RET_K, retValue(r.action, r.errnoRet, cfg.defaultErrnoRet));
      a.place(next);
    }
    a.emit(RET_K, dflt);
  }
}

export interface CompiledSeccomp { program: Buffer; flags: number }

/** Compiles for the x86 family this host runs; other architectures cannot reach this kernel. */
export function compileSeccomp(cfg: SeccompConfig): CompiledSeccomp {
  const arches = new Set(cfg.architectures.length ? cfg.architectures : ['SCMP_ARCH_X86_64']);
  const dflt = retValue(cfg.defaultAction, undefined, cfg.defaultErrnoRet);
  const badArch = RET.SCMP_ACT_KILL_PROCESS;
  const a = new Asm();
  const x64 = a.label(), x86 = a.label();
  a.emit(LD_W_ABS, OFF_ARCH);
  a.emit(JEQ_K, AUDIT_ARCH_X86_64, 0, 1);
  a.emit(JMP_JA, x64);
  a.emit(JEQ_K, AUDIT_ARCH_I386, 0, 1);
  a.emit(JMP_JA, x86);
  a.emit(RET_K, badArch);

  a.place(x64);
  const x32 = a.label();
  a.emit(LD_W_ABS, OFF_NR);
  a.emit(JGE_K, X32_BIT, 0, 1);
  a.emit(JMP_JA, x32);
  if (arches.has('SCMP_ARCH_X86_64')) emitAbi(a, cfg, 'x86_64', dflt);
  else a.emit(RET_K, badArch);
  a.place(x32);
  if (arches.has('SCMP_ARCH_X32')) emitAbi(a, cfg, 'x32', dflt);
  else a.emit(RET_K, badArch);
  a.place(x86);
  if (arches.has('SCMP_ARCH_X86')) emitAbi(a, cfg, 'x86', dflt);
  else a.emit(RET_K, badArch);

  let flags = 0;
  for (const f of cfg.flags) flags |= FLAGS[f as keyof typeof FLAGS];
  if (cfg.defaultAction === 'SCMP_ACT_NOTIFY' || cfg.syscalls.some((s) => s.action === 'SCMP_ACT_NOTIFY')) {
    flags |= FLAGS.SECCOMP_FILTER_FLAG_NEW_LISTENER;
  }
  return { program: a.assemble(), flags };
}
