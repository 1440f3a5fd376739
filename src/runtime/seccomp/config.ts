// linux.seccomp of the OCI config, checked field by field.
import type { Field } from '../../util/check.js';

export const ACTIONS = [
  'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE', 'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY',
] as const;
export type Action = (typeof ACTIONS)[number];

export const OPERATORS = [
  'SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ',
] as const;
export type Operator = (typeof OPERATORS)[number];

export const ARCHES = [
  'SCMP_ARCH_X86', 'SCMP_ARCH_X86_64', 'SCMP_ARCH_X32', 'SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64', 'SCMP_ARCH_MIPS',
  'SCMP_ARCH_MIPS64', 'SCMP_ARCH_MIPS64N32', 'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64', 'SCMP_ARCH_MIPSEL64N32',
  'SCMP_ARCH_PPC', 'SCMP_ARCH_PPC64', 'SCMP_ARCH_PPC64LE', 'SCMP_ARCH_S390', 'SCMP_ARCH_S390X', 'SCMP_ARCH_PARISC',
  'SCMP_ARCH_PARISC64', 'SCMP_ARCH_RISCV64', 'SCMP_ARCH_LOONGARCH64',
] as const;

export const FLAGS = {
  SECCOMP_FILTER_FLAG_TSYNC: 1, SECCOMP_FILTER_FLAG_LOG: 2, SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
  SECCOMP_FILTER_FLAG_NEW_LISTENER: 8, SECCOMP_FILTER_FLAG_TSYNC_ESRCH: 16, SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 32,
} as const;

export interface ArgCond { index: number; value: bigint; valueTwo: bigint; op: Operator }
export interface SyscallRule { names: string[]; action: Action; errnoRet?: number; args: ArgCond[] }
export interface SeccompConfig {
  defaultAction: Action;
  defaultErrnoRet?: number;
  architectures: string[];
  flags: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls: SyscallRule[];
}

export function parseSeccomp(f: Field): SeccompConfig {
  f.keys(['defaultAction', 'defaultErrnoRet', 'architectures', 'flags', 'listenerPath', 'listenerMetadata', 'syscalls']);
  const cfg: SeccompConfig = {
    defaultAction: f.at('defaultAction').oneOf(ACTIONS),
    defaultErrnoRet: f.at('defaultErrnoRet').optInt(0, 4095),
    architectures: f.at('architectures').optArray().map((a) => a.oneOf(ARCHES)),
    flags: f.at('flags').optArray().map((x) => x.oneOf(Object.keys(FLAGS))),
    listenerPath: f.at('listenerPath').present ? f.at('listenerPath').absPath() : undefined,
    listenerMetadata: f.at('listenerMetadata').optString(),
    syscalls: f.at('syscalls').optArray().map((s) => {
      s.keys(['names', 'action', 'errnoRet', 'args', 'comment', 'includes', 'excludes']);
      const names = s.at('names').strings();
      if (names.length === 0) s.at('names').fail('must name at least one syscall');
      return {
        names,
        action: s.at('action').oneOf(ACTIONS),
        errnoRet: s.at('errnoRet').optInt(0, 4095),
        args: s.at('args').optArray().map((a) => {
          a.keys(['index', 'value', 'valueTwo', 'op']);
          return { index: a.at('index').int(0, 5), value: a.at('value').uint64(), valueTwo: a.at('valueTwo').present ? a.at('valueTwo').uint64() : 0n, op: a.at('op').oneOf(OPERATORS) };
        }),
      };
    }),
  };
  const usesNotify = cfg.defaultAction === 'SCMP_ACT_NOTIFY' || cfg.syscalls.some((s) => s.action === 'SCMP_ACT_NOTIFY');
  if (usesNotify && !cfg.listenerPath) f.at('listenerPath').fail('SCMP_ACT_NOTIFY needs a listenerPath');
  return cfg;
}
