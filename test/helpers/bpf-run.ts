// A classic-BPF interpreter for the instructions berth's seccomp compiler
// emits, so tests can check a program's verdicts without loading it.
export interface SeccompData { nr: number; arch: number; args: bigint[] }

export function runBpf(program: Buffer, d: SeccompData): number {
  const word = (off: number): number => {
    if (off === 0) return d.nr >>> 0;
    if (off === 4) return d.arch >>> 0;
    if (off >= 16 && off < 64 && off % 4 === 0) {
      const a = d.args[(off - 16) >> 3] ?? 0n;
      return Number(off % 8 === 0 ? a & 0xffffffffn : (a >> 32n) & 0xffffffffn);
    }
    throw new Error(`bpf: load of offset ${off}`);
  };
  let acc = 0;
  for (let pc = 0, steps = 0; steps < 10000; steps++) {
    if (pc * 8 >= program.length) throw new Error('bpf: ran off the end');
    const code = program.readUInt16LE(pc * 8), jt = program[pc * 8 + 2]!, jf = program[pc * 8 + 3]!, k = program.readUInt32LE(pc * 8 + 4);
    pc++;
    switch (code) {
      case 0x20: acc = word(k); break;
      case 0x54: acc = (acc & k) >>> 0; break;
      case 0x06: return k;
      case 0x05: pc += k; break;
      case 0x15: pc += acc === k ? jt : jf; break;
      case 0x25: pc += acc > k ? jt : jf; break;
      case 0x35: pc += acc >= k ? jt : jf; break;
      default: throw new Error(`bpf: opcode 0x${code.toString(16)}`);
    }
  }
  throw new Error('bpf: no verdict');
}

/** Runs a cgroup device eBPF program on (type b=1/c=2, access bits, major, minor). */
export function runDeviceFilter(program: Buffer, type: number, access: number, major: number, minor: number): number {
  const ctx = [((access << 16) | type) >>> 0, major >>> 0, minor >>> 0];
  const r = new Array<number>(11).fill(0);
  r[1] = -1; // the context pointer: only loads from it are allowed
  for (let pc = 0, steps = 0; steps < 100000; steps++) {
    const code = program[pc * 8]!, regs = program[pc * 8 + 1]!, off = program.readInt16LE(pc * 8 + 2), imm = program.readInt32LE(pc * 8 + 4);
    const dst = regs & 0xf, src = regs >> 4;
    pc++;
    switch (code) {
      case 0x61:
        if (r[src] !== -1 || off % 4 || off > 8) throw new Error(`ebpf: load from r${src}+${off}`);
        r[dst] = ctx[off / 4]!; break;
      case 0x54: r[dst] = (r[dst]! & imm) >>> 0; break;
      case 0x74: r[dst] = r[dst]! >>> imm; break;
      case 0xbc: r[dst] = r[src]! >>> 0; break;
      case 0xb7: r[dst] = imm; break;
      case 0x55: if (r[dst] !== (imm >>> 0)) pc += off; break;
      case 0x95: return r[0]!;
      default: throw new Error(`ebpf: opcode 0x${code.toString(16)}`);
    }
  }
  throw new Error('ebpf: no exit');
}
