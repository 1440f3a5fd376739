// The default seccomp profile: every syscall is allowed except those that
// reach outside a container (module loading, kexec, clock setting, keyrings,
// mount, namespaces, tracing other processes ...), which fail with EPERM.
// A call that a granted capability legitimately unlocks (CAP_SYS_ADMIN for
// mount, CAP_SYS_PTRACE for ptrace, ...) is allowed again, as docker's
// profile does. Architectures: x86_64 with its x86 and x32 ABIs.

const ALWAYS_DENIED = [
  'acct', 'add_key', 'create_module', 'delete_module', 'finit_module', 'get_kernel_syms', 'init_module', 'kexec_file_load',
  'kexec_load', 'keyctl', 'lookup_dcookie', 'nfsservctl', 'query_module', 'request_key', 'uselib', 'userfaultfd', 'ustat',
  'vm86', 'vm86old', '_sysctl', 'sysfs', 'open_by_handle_at', 'perf_event_open', 'fsconfig', 'fsmount', 'fsopen', 'fspick',
  'move_mount', 'open_tree', 'bpf', 'swapon', 'swapoff', 'reboot', 'quotactl', 'quotactl_fd', 'iopl', 'ioperm',
  'settimeofday', 'stime', 'clock_settime', 'clock_settime64', 'clock_adjtime', 'clock_adjtime64', 'adjtimex',
  'setns', 'unshare', 'mount', 'umount', 'umount2', 'pivot_root', 'chroot', 'name_to_handle_at', 'ptrace',
  'process_vm_readv', 'process_vm_writev', 'kcmp', 'mbind', 'set_mempolicy', 'move_pages', 'get_mempolicy', 'syslog',
];

/** Calls a capability unlocks again (docker's profile does the same). */
const UNLOCKED_BY: Record<string, string[]> = {
  CAP_SYS_ADMIN: ['bpf', 'clone', 'fsconfig', 'fsmount', 'fsopen', 'fspick', 'lookup_dcookie', 'mount', 'move_mount', 'name_to_handle_at', 'open_tree', 'perf_event_open', 'quotactl', 'quotactl_fd', 'setdomainname', 'sethostname', 'setns', 'syslog', 'umount', 'umount2', 'unshare'],
  CAP_SYS_BOOT: ['reboot'],
  CAP_SYS_CHROOT: ['chroot'],
  CAP_SYS_MODULE: ['delete_module', 'init_module', 'finit_module'],
  CAP_SYS_PACCT: ['acct'],
  CAP_SYS_PTRACE: ['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev', 'ptrace'],
  CAP_SYS_RAWIO: ['iopl', 'ioperm'],
  CAP_SYS_TIME: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64', 'adjtimex', 'clock_adjtime', 'clock_adjtime64'],
  CAP_SYS_NICE: ['get_mempolicy', 'mbind', 'set_mempolicy', 'move_pages'],
  CAP_SYSLOG: ['syslog'],
  CAP_DAC_READ_SEARCH: ['open_by_handle_at'],
  CAP_BPF: ['bpf'],
  CAP_PERFMON: ['perf_event_open'],
};

export function defaultSeccomp(caps: string[]) {
  const unlocked = new Set(caps.flatMap((c) => UNLOCKED_BY[c] ?? []));
  // chroot is harmless without CAP_SYS_CHROOT (the kernel checks it) but docker allows it with the cap
  const denied = ALWAYS_DENIED.filter((s) => !unlocked.has(s));
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    syscalls: [{ names: denied, action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
  };
}
