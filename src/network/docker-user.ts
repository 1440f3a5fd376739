// Living beside docker: a dockerd that turned IP forwarding on itself sets
// the iptables FORWARD policy to drop, and a drop in its table is final
// whatever berth's own table accepts. Docker's answer for other people's
// traffic is its DOCKER-USER chain; berth puts two accept rules per bridge
// there (in and out; berth's own table still isolates its networks), marked
// with a comment that names berth's table, and takes them out with the
// bridge. Nothing else of docker's is touched, and nothing at all when the
// policy accepts or there is no DOCKER-USER chain.
import { spawnSync } from 'node:child_process';

const CHAIN = 'DOCKER-USER';

const iptables = (args: string[]) => spawnSync('iptables', ['-w', '5', ...args], { encoding: 'utf8' });

/** The rules berth wants in DOCKER-USER for these bridges, as `iptables -S` prints them (without -A CHAIN). */
export function dockerUserRules(table: string, bridges: string[]): string[] {
  return bridges.flatMap((b) => [`-i ${b} -m comment --comment ${table} -j ACCEPT`, `-o ${b} -m comment --comment ${table} -j ACCEPT`]);
}

/** Whether docker's FORWARD policy drops (and its DOCKER-USER chain is there to let berth's bridges through). */
function forwardDrops(): boolean {
  const r = iptables(['-S', 'FORWARD']);
  return r.status === 0 && /^-P FORWARD DROP$/m.test(r.stdout) && iptables(['-S', CHAIN]).status === 0;
}

/** Puts berth's rules for `bridges` in DOCKER-USER, and takes out its rules for bridges no longer there. */
export function syncDockerUser(table: string, bridges: string[]): void {
  const listed = iptables(['-S', CHAIN]);
  if (listed.error || listed.status !== 0) return; // no iptables, or no docker
  const mine = listed.stdout.split('\n').filter((l) => l.startsWith(`-A ${CHAIN} `) && l.includes(`--comment ${table} `)).map((l) => l.slice(`-A ${CHAIN} `.length));
  const want = bridges.length && forwardDrops() ? dockerUserRules(table, bridges) : [];
  for (const rule of mine.filter((r) => !want.includes(r))) iptables(['-D', CHAIN, ...rule.split(' ')]);
  for (const rule of want.filter((r) => !mine.includes(r))) {
    const r = iptables(['-I', CHAIN, ...rule.split(' ')]);
    if (r.status !== 0) process.stderr.write(`berthd: docker's FORWARD policy drops, and ${CHAIN} took no rule for berth: ${r.stderr.trim()}\n`);
  }
}
