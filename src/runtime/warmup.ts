// Runs the pure steps of `create` once, without touching the host, so that
// a V8 code cache made afterwards holds them compiled (see src/cli/launcher.ts).
import { parseConfig } from './config.js';
import { buildCreatePlan, encodePlan } from './plan.js';
import { detectHost, planCgroup } from './cgroups/index.js';
import { defaultSpec } from './spec-default.js';

export async function warmPlanning(): Promise<void> {
  const spec = defaultSpec({ args: ['true'] }) as Record<string, any>;
  spec.linux.resources = { memory: { limit: 1 << 26 }, pids: { limit: 100 }, cpu: { shares: 512 } };
  spec.linux.seccomp = {
    defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
    syscalls: [{ names: ['read', 'write', 'exit_group'], action: 'SCMP_ACT_ALLOW' }, { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }] }],
  };
  const config = parseConfig(JSON.stringify(spec));
  const host = detectHost();
  const cgroup = planCgroup(host, '/berth-warmup', config.linux.resources, config.linux.devices);
  const plan = buildCreatePlan(config, {
    id: 'warmup', bundle: '/nonexistent', rootfs: '/nonexistent/rootfs', fifo: '/nonexistent/exec.fifo', cgroup,
    cgroupMounts: host.hierarchies.map((h, i) => [h.mount.split('/').pop()!, cgroup.dirs[i]!]), preserveFds: 0, noPivot: false, supervise: true,
  });
  encodePlan(plan);
}
