// Device access on cgroup v2: an eBPF program of type CGROUP_DEVICE that
// allows or denies (type, major, minor, access) as the OCI rules say. The
// rules are checked from the last to the first and the first match decides,
// which gives v1's "later rules override earlier ones"; no match denies.
import type { DeviceRule } from '../config.js';

// eBPF opcodes (linux/bpf.h, linux/bpf_common.h)
const LDX_MEM_W = 0x61, ALU32_AND_K = 0x54, ALU32_RSH_K = 0x74, MOV64_K = 0xb7, JNE_K = 0x55, EXIT = 0x95;
// struct bpf_cgroup_dev_ctx: u32 access_type (access << 16 | type), major, minor
const TYPE = { b: 1, c: 2 } as const;
const ACCESS = { m: 1, r: 2, w: 4 } as const;
const R0 = 0, R1 = 1, R2 = 2, R3 = 3, R4 = 4, R5 = 5;

type Insn = { code: number; dst: number; src: number; off: number; imm: number };

export function accessBits(access: string): number {
  let bits = 0;
  for (const ch of access) bits |= ACCESS[ch as keyof typeof ACCESS] ?? 0;
  return bits;
}

export function compileDeviceFilter(rules: DeviceRule[]): Buffer {
  const prog: Insn[] = [];
  const emit = (code: number, dst: number, src: number, off: number, imm: number) => { prog.push({ code, dst, src, off, imm }); return prog.length - 1; };
  emit(LDX_MEM_W, R2, R1, 0, 0);
  emit(ALU32_AND_K, R2, 0, 0, 0xffff);     // r2 = device type
  emit(LDX_MEM_W, R3, R1, 0, 0);
  emit(ALU32_RSH_K, R3, 0, 0, 16);         // r3 = requested access
  emit(LDX_MEM_W, R4, R1, 4, 0);           // r4 = major
  emit(LDX_MEM_W, R5, R1, 8, 0);           // r5 = minor
  let catchAll = false;
  for (const rule of [...rules].reverse()) {
    const skips: number[] = [];
    if (rule.type !== 'a') skips.push(emit(JNE_K, R2, 0, 0, TYPE[rule.type]));
    const bits = accessBits(rule.access);
    if (bits !== 7) {
      // the request must ask for nothing outside the rule's access
      emit(0xbc /* MOV32_X */, R1, R3, 0, 0);
      emit(ALU32_AND_K, R1, 0, 0, ~bits & 7);
      skips.push(emit(JNE_K, R1, 0, 0, 0));
    }
    if (rule.major !== null && rule.major >= 0) skips.push(emit(JNE_K, R4, 0, 0, rule.major));
    if (rule.minor !== null && rule.minor >= 0) skips.push(emit(JNE_K, R5, 0, 0, rule.minor));
    emit(MOV64_K, R0, 0, 0, rule.allow ? 1 : 0);
    emit(EXIT, 0, 0, 0, 0);
    for (const at of skips) prog[at]!.off = prog.length - at - 1;
    // a rule that matches everything decides alone: code after it would be
    // unreachable, which the verifier refuses
    if (skips.length === 0) { catchAll = true; break; }
  }
  if (!catchAll) {
    emit(MOV64_K, R0, 0, 0, 0);
    emit(EXIT, 0, 0, 0, 0);
  }
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach((x, i) => {
    buf.writeUInt8(x.code, i * 8);
    buf.writeUInt8((x.src << 4) | x.dst, i * 8 + 1);
    buf.writeInt16LE(x.off, i * 8 + 2);
    buf.writeInt32LE(x.imm | 0, i * 8 + 4);
  });
  return buf;
}
