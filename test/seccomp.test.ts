// The seccomp compiler against a reference evaluation of the profile:
// every syscall of every ABI, with argument values at and around the
// profile's constants, gets the verdict the OCI semantics give it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSeccomp } from '../src/runtime/seccomp/bpf.js';
import { SYSCALLS } from '../src/runtime/seccomp/syscalls.js';
import type { ArgCond, SeccompConfig } from '../src/runtime/seccomp/config.js';
import { runBpf } from './helpers/bpf-run.js';

const ARCH = { x86_64: 0xc000003e, x32: 0xc000003e, x86: 0x40000003 } as const;
const ABI_ARCH = { x86_64: 'SCMP_ARCH_X86_64', x32: 'SCMP_ARCH_X32', x86: 'SCMP_ARCH_X86' } as const;
const RET = { SCMP_ACT_ALLOW: 0x7fff0000, SCMP_ACT_ERRNO: 0x50000, SCMP_ACT_KILL_PROCESS: 0x80000000, SCMP_ACT_LOG: 0x7ffc0000, SCMP_ACT_TRAP: 0x30000 } as Record<string, number>;

function holds(c: ArgCond, x: bigint, wide: boolean): boolean {
  const v = wide ? x : x & 0xffffffffn;
  const val = wide ? c.value : c.value & 0xffffffffn;
  switch (c.op) {
    case 'SCMP_CMP_EQ': return v === val;
    case 'SCMP_CMP_NE': return v !== val;
    case 'SCMP_CMP_LT': return v < val;
    case 'SCMP_CMP_LE': return v <= val;
    case 'SCMP_CMP_GT': return v > val;
    case 'SCMP_CMP_GE': return v >= val;
    case 'SCMP_CMP_MASKED_EQ': return (v & val) === (wide ? c.valueTwo : c.valueTwo & 0xffffffffn);
  }
}

function expected(cfg: SeccompConfig, abi: keyof typeof SYSCALLS, name: string, args: bigint[]): number {
  const ret = (action: string, errno?: number) => (RET[action]! | (action === 'SCMP_ACT_ERRNO' ? errno ?? cfg.defaultErrnoRet ?? 1 : 0)) >>> 0;
  if (!cfg.architectures.includes(ABI_ARCH[abi])) return RET.SCMP_ACT_KILL_PROCESS!;
  for (const r of cfg.syscalls) {
    if (!r.names.includes(name)) continue;
    if (r.args.every((c) => holds(c, args[c.index]!, abi !== 'x86'))) return ret(r.action, r.errnoRet);
  }
  return ret(cfg.defaultAction);
}

/** Shaped like the default profiles of docker and podman: hundreds of allowed calls, some with conditions. */
function bigProfile(arches: string[]): SeccompConfig {
  const all = Object.keys(SYSCALLS.x86_64).filter((n) => !['unshare', 'mount', 'keyctl', 'personality', 'clone', 'socket', 'ptrace'].includes(n));
  const c = (index: number, op: ArgCond['op'], value: bigint, valueTwo = 0n): ArgCond => ({ index, op, value, valueTwo });
  return {
    defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38, architectures: arches, flags: [],
    syscalls: [
      { names: all, action: 'SCMP_ACT_ALLOW', args: [] },
      { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [c(0, 'SCMP_CMP_EQ', 0n)] },
      { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [c(0, 'SCMP_CMP_EQ', 0xffffffffn)] },
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [c(0, 'SCMP_CMP_MASKED_EQ', 0x7e020000n, 0n)] },
      { names: ['socket'], action: 'SCMP_ACT_ERRNO', errnoRet: 97, args: [c(0, 'SCMP_CMP_EQ', 16n), c(2, 'SCMP_CMP_EQ', 9n)] },
      { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [c(0, 'SCMP_CMP_NE', 40n)] },
      { names: ['ptrace'], action: 'SCMP_ACT_ALLOW', args: [c(1, 'SCMP_CMP_GT', 0x1_0000_0000n), c(2, 'SCMP_CMP_LE', 7n)] },
      { names: ['ptrace'], action: 'SCMP_ACT_LOG', args: [c(3, 'SCMP_CMP_LT', 3n), c(4, 'SCMP_CMP_GE', 0xffff_ffff_0000_0000n)] },
      { names: ['keyctl'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [] },
    ],
  };
}

const PROBES = [0n, 1n, 2n, 3n, 7n, 8n, 9n, 16n, 40n, 0x7e020000n, 0x10000n, 0xffffffffn, 0x1_0000_0000n, 0x1_0000_0001n, 0xffff_ffff_0000_0000n, 0xffff_ffff_ffff_ffffn];

for (const arches of [['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'], ['SCMP_ARCH_X86_64'], ['SCMP_ARCH_X86']]) {
  test(`a docker-sized profile for ${arches.join('+')} gives the reference verdict for every syscall`, () => {
    const cfg = bigProfile(arches);
    const { program } = compileSeccomp(cfg);
    assert.ok(program.length / 8 < 1000, `${program.length / 8} instructions`);
    let seed = 1;
    const rnd = () => PROBES[(seed = (seed * 1103515245 + 12345) % 2 ** 31) % PROBES.length]!;
    for (const abi of ['x86_64', 'x32', 'x86'] as const) {
      for (const [name, nr] of Object.entries(SYSCALLS[abi])) {
        const tries = ['personality', 'clone', 'socket', 'ptrace'].includes(name) ? 300 : 1;
        for (let i = 0; i < tries; i++) {
          const args = Array.from({ length: 6 }, rnd);
          const got = runBpf(program, { nr, arch: ARCH[abi], args });
          assert.equal(got, expected(cfg, abi, name, args), `${abi} ${name}(${args.join(', ')})`);
        }
      }
      // numbers no syscall has
      assert.equal(runBpf(program, { nr: abi === 'x32' ? 0x40000000 + 4000 : 4000, arch: ARCH[abi], args: [] }), expected(cfg, abi, '', []));
    }
    assert.equal(runBpf(program, { nr: 0, arch: 0xc00000b7, args: [] }), RET.SCMP_ACT_KILL_PROCESS, 'aarch64 is not this host');
  });
}

test('an empty profile and a one-rule profile compile and decide', () => {
  const none = compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', architectures: [], flags: [], syscalls: [] }).program;
  assert.equal(runBpf(none, { nr: 0, arch: ARCH.x86_64, args: [] }), RET.SCMP_ACT_ALLOW);
  const one = compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], flags: [], syscalls: [{ names: ['mount'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [] }] }).program;
  assert.equal(runBpf(one, { nr: SYSCALLS.x86_64.mount!, arch: ARCH.x86_64, args: [] }), 0x50001);
  assert.equal(runBpf(one, { nr: SYSCALLS.x86_64.mount! + 1, arch: ARCH.x86_64, args: [] }), RET.SCMP_ACT_ALLOW);
  assert.equal(runBpf(one, { nr: SYSCALLS.x32.mount!, arch: ARCH.x86_64, args: [] }), RET.SCMP_ACT_KILL_PROCESS);
});
