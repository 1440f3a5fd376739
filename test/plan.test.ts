// Plans are data: built and compared without root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './helpers/env.js';
import { parseConfig } from '../src/runtime/config.js';
import { buildCreatePlan, encodePlan, OPCODES, MS, type PlanContext } from '../src/runtime/plan.js';
import { compileSeccomp } from '../src/runtime/seccomp/bpf.js';
import { defaultSpec } from '../src/runtime/spec-default.js';
import { blockWeightSupported, deviceRules, planCgroup } from '../src/runtime/cgroups/index.js';
import { compileDeviceFilter } from '../src/runtime/cgroups/device-filter.js';
import { runDeviceFilter } from './helpers/bpf-run.js';

const ctx: PlanContext = {
  id: 'c1', bundle: '/b', rootfs: '/b/rootfs', fifo: '/run/x/exec.fifo', preserveFds: 0, noPivot: false, supervise: false,
  cgroup: { dirs: ['/sys/fs/cgroup/memory/berth/c1'], writes: [], join: { tasks: ['/sys/fs/cgroup/memory/berth/c1/tasks'], v2Dir: '/sys/fs/cgroup/unified/berth/c1' } },
  cgroupMounts: [['memory', '/sys/fs/cgroup/memory/berth/c1']],
};

test('opcodes are the ones native/executor/plan.h defines', () => {
  const header = readFileSync(join(REPO, 'native', 'executor', 'plan.h'), 'utf8');
  const c = Object.fromEntries([...header.matchAll(/OP_(\w+) = (\d+)/g)].map((m) => [m[1].toLowerCase().replace(/_(\w)/g, (_, x) => x.toUpperCase()), Number(m[2])]));
  delete c.max;
  assert.deepEqual(c, { ...OPCODES });
});

test('a default spec becomes a plan in the expected order', () => {
  const spec = defaultSpec({ args: ['sh'], terminal: false });
  const plan = buildCreatePlan(parseConfig(JSON.stringify(spec)), ctx);
  const ops = plan.child.map((o) => o.op);
  const at = (op: string) => ops.indexOf(op as never);
  assert.ok(at('joinCgroup') === 0 && at('sync') < at('setsid') && at('setsid') < at('mount'), 'the child enters its cgroups first');
  assert.deepEqual(plan.pre.at(-1), { op: 'cloneIntoCgroup', dir: '/sys/fs/cgroup/unified/berth/c1' });
  assert.ok(at('mount') < at('pivotRoot') && at('pivotRoot') < at('mask') && at('mask') < at('readonly'));
  assert.ok(at('closeFds') < at('chdir'), 'fds are closed before the cwd is entered (CVE-2024-21626)');
  assert.ok(at('capBounding') < at('user') && at('user') < at('caps'));
  assert.ok(at('notify') < at('waitFifo') && at('waitFifo') < at('exec'));
  assert.equal(ops.at(-1), 'exec');
  assert.deepEqual(plan.parent.map((o) => o.op), ['wait', 'ack', 'wait', 'reportPid']);
  assert.equal(plan.cloneFlags, 0x20000000 | 0x40000000 | 0x08000000 | 0x04000000 | 0x00020000);
  const ro = plan.child.find((o) => o.op === 'mount' && o.target === '/' && o.flags & MS.RDONLY);
  assert.ok(ro, 'root.readonly remounts / read-only');
  assert.equal(encodePlan(plan).subarray(0, 8).toString(), 'BRTHPLAN');
});

test('an engine that asks is told the new network namespace at once ("ns N" after the child is released), not when it joins one', () => {
  const spec = defaultSpec({ args: ['sh'], terminal: false }) as any;
  assert.deepEqual(buildCreatePlan(parseConfig(JSON.stringify(spec)), { ...ctx, reportNs: true }).parent.map((o) => o.op), ['wait', 'ack', 'reportNs', 'wait', 'reportPid']);
  spec.linux.namespaces = spec.linux.namespaces.map((n: { type: string }) => (n.type === 'network' ? { type: 'network', path: '/proc/1/ns/net' } : n));
  assert.ok(!buildCreatePlan(parseConfig(JSON.stringify(spec)), { ...ctx, reportNs: true }).parent.some((o) => o.op === 'reportNs'), 'a joined namespace is set later, in the child');
});

test('bind mounts with options become a bind and a remount', () => {
  const spec = defaultSpec({ args: ['sh'], terminal: false }) as any;
  spec.mounts.push({ destination: '/data', type: 'bind', source: '/tmp', options: ['rbind', 'ro', 'nosuid'] });
  const plan = buildCreatePlan(parseConfig(JSON.stringify(spec)), ctx);
  const m = plan.child.filter((o) => o.op === 'mount' && o.target === '/data');
  assert.deepEqual(m.map((o) => (o as { flags: number }).flags), [MS.BIND | MS.REC, MS.BIND | MS.REMOUNT | MS.RDONLY | MS.NOSUID]);
});

test('seccomp compiles to BPF with arch checks and stays in range', () => {
  const names = Array.from({ length: 300 }, (_, i) => ['read', 'write', 'openat', 'close', 'mmap'][i % 5]);
  const { program, flags } = compileSeccomp({ defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'], flags: ['SECCOMP_FILTER_FLAG_LOG'], syscalls: [{ names, action: 'SCMP_ACT_ALLOW', args: [] }, { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0x7e020000n, valueTwo: 0n, op: 'SCMP_CMP_MASKED_EQ' }] }] });
  assert.equal(program.length % 8, 0);
  assert.equal(flags, 2);
  assert.equal(program.readUInt32LE(4), 4, 'first instruction loads the architecture');
});

test('invalid configs name the field', () => {
  const bad = (change: (s: any) => void) => { const s = defaultSpec() as any; change(s); return () => parseConfig(JSON.stringify(s)); };
  assert.throws(bad((s) => { s.process.user.uid = -1; }), /process\.user\.uid: must be between 0/);
  assert.throws(bad((s) => { s.linux.resources.memory = { limit: 'lots' }; }), /linux\.resources\.memory\.limit: must be a non-negative integer/);
  assert.throws(bad((s) => { s.linux.namespaces = [{ type: 'pid' }]; }), /no "mount" namespace: .*MUST inherit the runtime namespace of that type/);
  assert.throws(bad((s) => { s.linux.seccomp = { defaultAction: 'SCMP_ACT_NOPE' }; }), /linux\.seccomp\.defaultAction: unknown value/);
  assert.throws(bad((s) => { s.procss = {}; }), /procss: unknown field/);
  assert.throws(() => parseConfig('{'), /config\.json: not valid JSON/);
});

test('the cgroup v2 device filter decides as the rules say, later rules first', () => {
  const res = parseConfig(JSON.stringify(defaultSpec())).linux.resources;
  const rules = deviceRules(res, [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229 } as any]);
  rules.push({ allow: false, type: 'c', major: 1, minor: 9, access: 'w' }); // urandom: no writes
  const prog = compileDeviceFilter(rules);
  const C = 2, B = 1, M = 1, R = 2, W = 4;
  const may = (t: number, a: number, maj: number, min: number) => runDeviceFilter(prog, t, a, maj, min) === 1;
  assert.ok(may(C, R | W, 1, 3), '/dev/null rw');
  assert.ok(may(C, R | W, 136, 4), 'a pty');
  assert.ok(may(C, R | W, 10, 229), 'a device from linux.devices');
  assert.ok(may(C, M, 8, 1) && may(B, M, 8, 1), 'mknod of anything');
  assert.ok(!may(B, R, 8, 0), 'a disk');
  assert.ok(!may(C, R, 10, 200), 'tun is not listed');
  assert.ok(!may(C, W, 1, 9) && may(C, R, 1, 9), 'the later deny wins for writes only');
  assert.ok(!may(C, R | M, 4, 1), 'one access outside the rule denies');
  // a v2-only host gets the program instead of devices.* files
  const host = { mode: 'v2' as const, hierarchies: [{ version: 2 as const, mount: '/sys/fs/cgroup', controllers: ['memory', 'pids'], own: '/' }] };
  const plan = planCgroup(host, '/t/c', res);
  assert.equal(plan.deviceFilter?.dir, '/sys/fs/cgroup/t/c');
  assert.deepEqual(plan.join, { tasks: [], v2Dir: '/sys/fs/cgroup/t/c' }, 'v2 is entered by clone3, not by a cgroup.procs write');
  assert.ok(plan.writes.every((w) => !w.file.includes('devices.')));
});

test('a block I/O weight is kept only where the CFQ or BFQ weight file exists below the root (docker drops it otherwise)', () => {
  // a directory stands for a blkio hierarchy: this host has BFQ, so the other cases cannot be met for real
  const root = mkdtempSync(join(tmpdir(), 'berth-test-blkio-'));
  try {
    const host = { mode: 'v1' as const, hierarchies: [{ version: 1 as const, mount: root, controllers: ['blkio'], own: '/' }] };
    assert.equal(blockWeightSupported(host, '/berth'), false, 'neither file');
    writeFileSync(join(root, 'berth', 'blkio.bfq.weight'), '');
    assert.equal(blockWeightSupported(host, '/berth'), true, 'BFQ');
    rmSync(join(root, 'berth', 'blkio.bfq.weight'));
    writeFileSync(join(root, 'berth', 'blkio.weight'), '');
    assert.equal(blockWeightSupported(host, '/berth'), true, 'CFQ');
    assert.equal(blockWeightSupported({ mode: 'v1', hierarchies: [] }, '/berth'), false, 'no blkio controller');
  } finally { rmSync(root, { recursive: true, force: true }); }
});
