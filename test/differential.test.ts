// The same bundles under Debian's runc and under berth: every check's
// observable result must match. The table is printed as a diagnostic.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { TestEnv, sh, BERTH_RUNTIME } from './helpers/env.js';
import type { Spec } from './helpers/make-bundle.js';

const env = new TestEnv();
after(() => env.cleanup());

const CHECKS: [string, string, ((s: Spec) => void)?][] = [
  ['pid 1', 'echo $$'],
  ['hostname', 'hostname', (s) => { s.hostname = 'diff-host'; }],
  ['network interfaces', 'ls /sys/class/net'],
  ['root listing', 'ls /'],
  ['masked /proc/keys', 'wc -c < /proc/keys'],
  ['readonly /proc/sys', 'echo 1 > /proc/sys/vm/drop_caches 2>/dev/null && echo writable || echo refused'],
  ['CapEff (default set)', 'grep CapEff /proc/self/status'],
  ['CapBnd (default set)', 'grep CapBnd /proc/self/status'],
  ['NoNewPrivs', 'grep NoNewPrivs /proc/self/status'],
  ['uid/gid/groups', 'id', (s) => { s.process.user = { uid: 65534, gid: 65534, additionalGids: [5] }; }],
  ['umask', 'umask'],
  ['rlimit nofile', 'ulimit -n; ulimit -Hn', (s) => { s.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 321, hard: 654 }]; }],
  ['cwd', 'pwd', (s) => { s.process.cwd = '/tmp'; }],
  ['cwd that the root lacks (made, 0755)', 'pwd; ls -ld /made/here | cut -c1-10', (s) => { s.process.cwd = '/made/here'; s.process.user = { uid: 65534, gid: 65534 }; }],
  ['ambient capabilities without inheritable (runc spec\'s own)', 'grep -E "CapAmb|CapEff" /proc/self/status', (s) => {
    s.process.capabilities = { bounding: ['CAP_KILL', 'CAP_AUDIT_WRITE'], effective: ['CAP_KILL', 'CAP_AUDIT_WRITE'], permitted: ['CAP_KILL', 'CAP_AUDIT_WRITE'], ambient: ['CAP_KILL', 'CAP_AUDIT_WRITE'] };
  }],
  ['env', 'env | sort', (s) => { s.process.env = ['PATH=/bin', 'A=1', 'B=two words']; }],
  ['/dev entries', 'ls /dev | sort'],
  ['/dev/null writable', 'echo x > /dev/null && echo ok'],
  ['read-only root', 'touch /nope 2>/dev/null && echo writable || echo refused', (s) => { s.root.readonly = true; }],
  ['exit code', 'exit 42'],
  ['memory limit seen in cgroup', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max', (s) => { s.linux.resources.memory = { limit: 64 * 1024 * 1024 }; }],
  ['pids limit seen in cgroup', 'cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max', (s) => { s.linux.resources.pids = { limit: 77 }; }],
  ['seccomp errno', 'unshare -U true 2>&1 | grep -o "Operation not permitted" ; echo $?', (s) => {
    s.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['unshare'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] };
  }],
];

function runWith(bin: string, root: string, bundle: string, id: string) {
  const r = spawnSync(bin, ['--root', root, 'run', '-b', bundle, id], { encoding: 'utf8', input: '', timeout: 30000 });
  return { out: r.stdout.trim(), code: r.status };
}

test('runc and berth agree on every check', (t) => {
  const rows: string[] = ['| check | runc | berth | same |', '|---|---|---|---|'];
  const diffs: string[] = [];
  for (const [name, cmd, change] of CHECKS) {
    const b = env.bundle(sh(cmd), (s) => {
      s.ociVersion = '1.0.2';
      s.linux.namespaces = s.linux.namespaces.filter((n: { type: string }) => n.type !== 'cgroup');
      change?.(s);
    });
    const runc = runWith('runc', join(env.dir, 'runc-state'), b, env.id());
    const berth = runWith(BERTH_RUNTIME, env.root, b, env.id());
    const same = runc.out === berth.out && runc.code === berth.code;
    const cell = (r: { out: string; code: number | null }) => `${r.out.replace(/\n/g, ' ⏎ ').slice(0, 80)} (exit ${r.code})`;
    rows.push(`| ${name} | ${cell(runc)} | ${cell(berth)} | ${same ? 'yes' : '**no**'} |`);
    if (!same) diffs.push(`${name}: runc ${JSON.stringify(runc)} berth ${JSON.stringify(berth)}`);
  }
  for (const row of rows) t.diagnostic(row);
  assert.deepEqual(diffs, []);
});
