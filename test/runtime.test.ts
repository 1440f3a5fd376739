// The runtime on the real kernel, as root: every check is made from inside
// the container.
import { test, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readlinkSync, readFileSync, writeFileSync, symlinkSync, existsSync, readdirSync, rmdirSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { TestEnv, sh, BERTH_RUNTIME } from './helpers/env.js';
import { ALL_CAPABILITIES } from '../src/runtime/caps.js';

const env = new TestEnv();
after(() => env.cleanup());

describe('isolation', () => {
  test('the process is PID 1 and ps shows only the container', () => {
    const r = env.run(sh('echo $$; ps -o pid,comm | tail -n +2; true'));
    assert.equal(r.code, 0, r.err);
    const [pid, ...procs] = r.out.trim().split('\n');
    assert.equal(pid, '1');
    // sh (1), ps and tail: nothing of the host's
    assert.ok(procs.length <= 3 && procs.every((l) => Number(l.trim().split(/\s+/)[0]) < 10), `ps saw host processes: ${r.out}`);
  });

  test('its own hostname and namespaces', () => {
    const r = env.run(sh('hostname; for n in pid mnt uts ipc net cgroup; do readlink /proc/self/ns/$n; done'), (s) => { s.hostname = 'inside-box'; });
    assert.equal(r.code, 0, r.err);
    const [host, ...ns] = r.out.trim().split('\n');
    assert.equal(host, 'inside-box');
    const mine = ['pid', 'mnt', 'uts', 'ipc', 'net', 'cgroup'].map((n) => readlinkSync(`/proc/self/ns/${n}`));
    ns.forEach((inode, i) => assert.notEqual(inode, mine[i], `namespace ${inode} is the host's`));
  });

  test('only lo in a new network namespace', () => {
    const r = env.run(sh('ls /sys/class/net'));
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.trim(), 'lo');
  });

  test('the rootfs is the bundle\'s and host files are unreachable', () => {
    const marker = join(env.dir, 'host-marker');
    writeFileSync(marker, 'host');
    const r = env.run(sh(`cat ${marker} 2>&1; ls /; cat /proc/1/mountinfo | head -1`));
    assert.match(r.out, /No such file/);
    assert.match(r.out, /bin/);
    assert.doesNotMatch(r.out, /\bwork\b|\bvar\b|\busr\b/);
  });

  test('masked paths read empty and readonly paths refuse writes', () => {
    const r = env.run(sh('[ -e /proc/kcore ] && wc -c < /proc/kcore || echo 0; cat /proc/keys | wc -c; ls /sys/firmware | wc -l; echo 1 > /proc/sys/vm/drop_caches 2>&1 && echo wrote || echo refused'));
    assert.equal(r.code, 0, r.err);
    const [kcore, keys, fw, sys] = r.out.trim().split('\n').map((s) => s.trim());
    assert.deepEqual([kcore, keys, fw], ['0', '0', '0']);
    assert.match(sys, /refused/);
  });

  test('CapEff equals the requested set', () => {
    const caps = ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
    const r = env.run(sh('grep -E "^Cap(Eff|Bnd|Prm)" /proc/self/status'), (s) => {
      s.process.capabilities = { bounding: caps, effective: caps, permitted: caps };
    });
    assert.equal(r.code, 0, r.err);
    const want = ((1 << 0) | (1 << 5) | (1 << 10)).toString(16).padStart(16, '0');
    for (const line of r.out.trim().split('\n')) assert.equal(line.split(/\s+/)[1], want, line);
  });

  test('seccomp denies what the profile denies', () => {
    const r = env.run(sh('unshare -U true 2>&1; echo "u=$?"; mount -t tmpfs t /tmp 2>&1; echo "m=$?"; echo ok'), (s) => {
      s.process.capabilities = { bounding: ['CAP_SYS_ADMIN'], effective: ['CAP_SYS_ADMIN'], permitted: ['CAP_SYS_ADMIN'] };
      s.linux.seccomp = {
        defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
        syscalls: [{ names: ['unshare', 'mount', 'keyctl'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
      };
    });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Operation not permitted[\s\S]*u=1/);
    assert.match(r.out, /m=[1-9]/);
    assert.match(r.out, /Operation not permitted[\s\S]*m=/);
  });

  test('seccomp argument conditions: only the matching call is denied', () => {
    // personality(0xffffffff) queries; deny only personality(8) (PER_LINUX32 = 8)
    const r = env.run(sh('setarch linux32 true 2>&1; echo "a=$?"; true; echo b=$?'), (s) => {
      s.linux.seccomp = {
        defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'],
        syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ERRNO', errnoRet: 13, args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }] }],
      };
    });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /a=1/);
    assert.match(r.out, /b=0/);
  });

  test('SCMP_ACT_NOTIFY hands the listener fd and the state to the agent at listenerPath', async () => {
    const sock = join(env.dir, 'agent.sock');
    const got: Buffer[] = [];
    // a plain read drops the fd that came with the message, which closes the
    // listener: the notified syscall then fails with ENOSYS
    const server = createServer((c) => c.on('data', (d) => got.push(d))).listen(sock);
    const b = env.bundle(sh('mkdir /tmp/x 2>&1; echo done'), (s) => {
      s.linux.seccomp = {
        defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], listenerPath: sock, listenerMetadata: 'meta-1',
        syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_NOTIFY' }],
      };
    });
    const child = spawn(BERTH_RUNTIME, ['--root', env.root, 'run', '-b', b, env.id()], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const code = await new Promise((r) => child.on('exit', r));
    server.close();
    assert.equal(code, 0, out);
    assert.match(out, /Function not implemented\ndone\n$/);
    const state = JSON.parse(Buffer.concat(got).toString());
    assert.deepEqual(state.fds, ['seccompFd']);
    assert.equal(state.metadata, 'meta-1');
    assert.equal(state.state.status, 'creating');
    assert.ok(state.pid > 1 && state.pid === state.state.pid, 'the host pid of the init');
  });

  test('uid 0 inside is an unprivileged uid outside under a user namespace', async () => {
    const b = env.bundle(sh('id -u; cat /proc/self/uid_map; sleep 5'), (s) => {
      s.linux.namespaces.push({ type: 'user' });
      s.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.mounts = s.mounts.filter((m: { type: string }) => m.type !== 'cgroup');
    });
    const id = env.id();
    const r = env.runtime(['run', '-d', '-b', b, id]);
    assert.equal(r.status, 0, r.stderr);
    const state = JSON.parse(env.runtime(['state', id]).stdout);
    const status = readFileSync(`/proc/${state.pid}/status`, 'utf8');
    assert.match(status, /^Uid:\s+100000\s/m);
    env.runtime(['delete', '-f', id]);
  });

  test('rlimits apply', () => {
    const r = env.run(sh('ulimit -n; ulimit -Hn'), (s) => { s.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 123, hard: 456 }]; });
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(r.out.trim().split('\n'), ['123', '456']);
  });

  test('an rlimit or capability the runtime cannot grant is named in the error', () => {
    // above fs.nr_open, so no process may have it, with or without CAP_SYS_RESOURCE
    const r = env.run(['true'], (s) => { s.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 2 ** 40, hard: 2 ** 40 }]; });
    assert.notEqual(r.code, 0);
    assert.match(r.err, /RLIMIT_NOFILE/);
    const bnd = BigInt(`0x${/^CapBnd:\s+(\w+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`);
    const missing = ALL_CAPABILITIES.find((_, i) => !(bnd & (1n << BigInt(i))));
    if (!missing) return; // this host grants every capability
    const c = env.run(['true'], (s) => { s.process.capabilities!.permitted.push(missing); s.process.capabilities!.bounding.push(missing); });
    assert.notEqual(c.code, 0);
    assert.match(c.err, new RegExp(`${missing} is outside the bounding set`));
  });

  test('a read-only root refuses writes; tmpfs mounts still work', () => {
    const r = env.run(sh('touch /x 2>&1 || echo ro; touch /dev/shm/y && echo shm-ok'), (s) => { s.root.readonly = true; });
    assert.match(r.out, /ro/);
    assert.match(r.out, /shm-ok/);
  });
});

describe('limits', () => {
  test('a memory hog is OOM-killed and the kill is reported', () => {
    const id = env.id();
    const b = env.bundle(sh('x=a; while true; do x="$x$x"; done'), (s) => {
      s.linux.resources.memory = { limit: 32 * 1024 * 1024, swap: 32 * 1024 * 1024 };
    });
    const r = env.runtime(['run', '--keep', '-b', b, id]);
    assert.equal(r.status, 137, r.stderr);
    const ev = JSON.parse(env.runtime(['events', '--stats', id]).stdout);
    assert.ok(ev.data.memory.oomKill >= 1, JSON.stringify(ev));
    assert.equal(env.runtime(['delete', id]).status, 0);
  });

  test('a fork bomb stops at the pids limit', async () => {
    const id = env.id();
    // the inner shell forks until it fails (and dies of it); its sleeps stay
    const b = env.bundle(sh('sh -c "while :; do sleep 5 & done"; sleep 5'), (s) => { s.linux.resources.pids = { limit: 10 }; });
    const r = env.runtime(['run', '-d', '-b', b, id]);
    assert.equal(r.status, 0, r.stderr);
    await new Promise((res) => setTimeout(res, 500));
    const st = JSON.parse(env.runtime(['events', '--stats', id]).stdout);
    const inside = JSON.parse(env.runtime(['ps', '--format', 'json', id]).stdout);
    env.runtime(['delete', '-f', id]);
    // an endless fork loop, held at the limit (the failed shell itself is gone)
    assert.ok(st.data.pids.current >= 8 && st.data.pids.current <= 10, JSON.stringify(st.data.pids));
    assert.ok(inside.length >= 8 && inside.length <= 10, JSON.stringify(inside));
    assert.match(readFileSync(join(env.dir, readdirSync(env.dir).filter((f) => f.startsWith('out-')).sort((a, b2) => Number(a.slice(4, -4)) - Number(b2.slice(4, -4))).pop()!), 'utf8'), /can't fork|Resource temporarily unavailable/);
  });

  test('a cpu quota holds a spinner near its quota', async () => {
    const id = env.id();
    const b = env.bundle(sh('while :; do :; done'), (s) => { s.linux.resources.cpu = { quota: 20000, period: 100000 }; });
    assert.equal(env.runtime(['run', '-d', '-b', b, id]).status, 0);
    const usage = () => JSON.parse(env.runtime(['events', '--stats', id]).stdout).data.cpu.usageNs as number;
    const u0 = usage(), t0 = process.hrtime.bigint();
    await new Promise((r) => setTimeout(r, 1500));
    const share = (usage() - u0) / Number(process.hrtime.bigint() - t0);
    env.runtime(['delete', '-f', id]);
    assert.ok(share > 0.1 && share < 0.3, `cpu share ${share}`);
  });

  test('pause freezes and resume thaws', async () => {
    const id = env.id();
    const b = env.bundle(sh('while :; do :; done'));
    assert.equal(env.runtime(['run', '-d', '-b', b, id]).status, 0);
    assert.equal(env.runtime(['pause', id]).status, 0);
    const st = JSON.parse(env.runtime(['state', id]).stdout);
    assert.equal(st.status, 'paused');
    const u = () => JSON.parse(env.runtime(['events', '--stats', id]).stdout).data.cpu.usageNs as number;
    const a = u();
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(u() - a < 5e6, 'a frozen container used cpu');
    assert.equal(env.runtime(['resume', id]).status, 0);
    assert.equal(JSON.parse(env.runtime(['state', id]).stdout).status, 'running');
    env.runtime(['delete', '-f', id]);
  });

  test('kill delivers signals', async () => {
    const id = env.id();
    const b = env.bundle(sh('trap "echo got-usr1 > /tmp/sig; exit 0" USR1; while :; do sleep 0.05; done'));
    assert.equal(env.runtime(['create', '-b', b, id]).status, 0);
    assert.equal(JSON.parse(env.runtime(['state', id]).stdout).status, 'created');
    assert.equal(env.runtime(['start', id]).status, 0);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(env.runtime(['kill', id, 'USR1']).status, 0);
    for (let i = 0; i < 100 && JSON.parse(env.runtime(['state', id]).stdout).status !== 'stopped'; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(JSON.parse(env.runtime(['state', id]).stdout).status, 'stopped');
    assert.equal(readFileSync(join(b, 'rootfs', 'tmp', 'sig'), 'utf8').trim(), 'got-usr1');
    assert.equal(env.runtime(['delete', id]).status, 0);
  });

  test('exit codes pass through: 42, and 137 for SIGKILL', async () => {
    assert.equal(env.run(sh('exit 42')).code, 42);
    const id = env.id();
    const b = env.bundle(['sleep', '30']);
    const run = spawn(BERTH_RUNTIME, ['--root', env.root, 'run', '-b', b, id], { stdio: 'ignore' });
    const code = new Promise((res) => run.on('exit', res));
    for (let i = 0; i < 200 && env.runtime(['state', id]).status !== 0; i++) await new Promise((r) => setTimeout(r, 10));
    for (let i = 0; i < 200 && JSON.parse(env.runtime(['state', id]).stdout).status !== 'running'; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(env.runtime(['kill', id, 'KILL']).status, 0);
    assert.equal(await code, 137);
  });
});

describe('lifecycle', () => {
  test('a terminal without a console socket: the supervisor holds the pty and proxies it', () => {
    const id = env.id();
    const b = env.bundle(sh('tty; read x; echo "got $x"; exit 7'), (s) => { s.process.terminal = true; });
    const r = env.runtime(['run', '-b', b, id], { input: 'hello\n' });
    assert.equal(r.status, 7, r.stderr);
    assert.match(r.stdout, /^\/dev\/pts\/0\r$/m);
    assert.match(r.stdout, /got hello\r\n$/);
    // detached, nobody could hold it: refused with the reason
    const d = env.runtime(['run', '-d', '-b', b, env.id()]);
    assert.notEqual(d.status, 0);
    assert.match(d.stderr, /process\.terminal: is true: --console-socket is required/);
  });

  test('create, state, exec, ps, start, delete', async () => {
    const id = env.id();
    const b = env.bundle(sh('sleep 30'));
    assert.equal(env.runtime(['create', '-b', b, '--pid-file', join(env.dir, `${id}.pid`), id]).status, 0);
    const st = JSON.parse(env.runtime(['state', id]).stdout);
    assert.equal(st.status, 'created');
    assert.equal(readFileSync(join(env.dir, `${id}.pid`), 'utf8'), String(st.pid));
    assert.equal(env.runtime(['start', id]).status, 0);
    const ex = env.runtime(['exec', id, 'sh', '-c', 'echo $$; hostname; cat /proc/1/cmdline | tr "\\0" " "']);
    assert.equal(ex.status, 0, ex.stderr);
    const [pid, , cmd] = ex.stdout.trim().split('\n');
    assert.notEqual(pid, '1');
    assert.match(cmd, /sleep 30/);
    assert.equal(env.runtime(['exec', id, 'sh', '-c', 'exit 7']).status, 7);
    const ps = JSON.parse(env.runtime(['ps', '--format', 'json', id]).stdout);
    assert.ok(ps.includes(st.pid));
    const del = env.runtime(['delete', id]);
    assert.notEqual(del.status, 0);
    assert.match(del.stderr, /not stopped/);
    assert.equal(env.runtime(['delete', '--force', id]).status, 0);
    assert.notEqual(env.runtime(['state', id]).status, 0);
  });
});

describe('what the runtime spec and runc let pass, berth-runtime lets pass and names (runtime-tools misc_props, mounts)', () => {
  test('a config property it does not know is no error: it is named as a warning', () => {
    const r = env.run(['echo', 'ran'], (s) => { s.futureField = { x: 1 }; s.process.futureToo = true; s.linux.futureLinux = 1; });
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'ran\n');
    for (const p of ['futureField', 'process.futureToo', 'linux.futureLinux']) assert.match(r.err, new RegExp(`warning: config\\.json: ${p.replace('.', '\\.')}: unknown property, ignored`));
  });

  test('options that are not a bind\'s (mode=755, size=) are ignored on a bind mount and named; with --log, the warning goes to the log only', () => {
    const log = join(env.dir, 'warn.log');
    const b = env.bundle(['sh', '-c', 'test -d /mnt/bound && echo ok'], (s) => { s.mounts.push({ destination: '/mnt/bound', type: 'bind', source: env.dir, options: ['rbind', 'mode=755', 'size=64k', 'ro'] }); });
    const r = env.runtime(['--log', log, '--log-format', 'json', 'run', '-b', b, env.id()]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'ok\n');
    assert.equal(r.stderr, '');
    const line = JSON.parse(readFileSync(log, 'utf8').trim().split('\n').pop()!) as { level: string; msg: string };
    assert.equal(line.level, 'warning');
    assert.match(line.msg, /options: mode=755, size=64k ignored for the bind mount at \/mnt\/bound/);
  });
});

describe('bad input leaves nothing behind', () => {
  const cases: [string, (s: any) => void, RegExp][] = [
    ['a missing field', (s) => { delete s.process.cwd; }, /process\.cwd: must be a string/],
    ['a wrong type', (s) => { s.process.args = 'sh'; }, /process\.args: must be an array/],
    ['an unknown namespace', (s) => { s.linux.namespaces.push({ type: 'bogus' }); }, /linux\.namespaces\[\d+\]\.type: unknown value "bogus"/],
    ['a relative path', (s) => { s.mounts[0].destination = 'proc'; }, /mounts\[0\]\.destination: must be an absolute path/],
    ['a bad mount option', (s) => { s.mounts.push({ destination: '/mnt', type: 'tmpfs', source: 'tmpfs', options: ['size=lots'] }); }, /mount tmpfs tmpfs on \/mnt.*Invalid argument/],
    ['no mount namespace', (s) => { s.linux.namespaces = s.linux.namespaces.filter((n: { type: string }) => n.type !== 'mount'); }, /no "mount" namespace: .*MUST inherit the runtime namespace of that type/],
    ['an unknown capability', (s) => { s.process.capabilities.bounding = ['CAP_FLY']; }, /process\.capabilities\.bounding\[0\]: unknown capability/],
    ['a missing program', (s) => { s.process.args = ['/no/such/program']; }, /no\/such\/program.*not found/],
  ];
  for (const [name, change, msg] of cases) {
    test(name, () => {
      const before = mountsAndCgroups();
      const r = env.run(['true'], change);
      assert.notEqual(r.code, 0);
      assert.match(r.err, msg);
      assert.deepEqual(mountsAndCgroups(), before);
      assert.deepEqual(existsSync(env.root) ? readdirSync(env.root) : [], []);
    });
  }
});

function mountsAndCgroups() {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(env.dir)).length;
  const cg = existsSync(`/sys/fs/cgroup/memory${env.cgroupParent}`) ? readdirSync(`/sys/fs/cgroup/memory${env.cgroupParent}`).filter((d) => !d.includes('.')) : [];
  return { mounts, cg };
}

describe('hostile rootfs and runtime CVEs', () => {
  test('symlinks in the rootfs cannot redirect mounts or devices to the host', () => {
    const b = env.bundle(sh('ls /sys/fs/cgroup | head -1; echo done'), (s) => {
      s.mounts.push({ destination: '/evil/mnt', type: 'tmpfs', source: 'tmpfs', options: [] });
    });
    const root = join(b, 'rootfs');
    // /evil -> / and /dev is replaced by a symlink pointing far up
    symlinkSync('/', join(root, 'evil'));
    symlinkSync('../../../../../../tmp', join(root, 'run'));
    const r = env.runtime(['run', '-b', b, env.id()]);
    assert.equal(r.status, 0, r.stderr);
    // the host's / got no tmpfs at /mnt
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === '/mnt'));
  });

  test('missing mount targets are made through symlinks inside the root; a dangling one is refused, nothing made for it', () => {
    const b = env.bundle(sh('grep -c " /real/a/b " /proc/self/mountinfo'), (s) => {
      s.mounts.push({ destination: '/via/a/b', type: 'tmpfs', source: 'tmpfs', options: [] });
    });
    const root = join(b, 'rootfs');
    mkdirSync(join(root, 'real'));
    symlinkSync('/real', join(root, 'via'));
    const r = env.runtime(['run', '-b', b, env.id()]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '1\n');
    assert.ok(existsSync(join(root, 'real', 'a', 'b')));
    const d = env.bundle(sh('echo ran'), (s) => {
      s.mounts.push({ destination: '/dangling/x', type: 'tmpfs', source: 'tmpfs', options: [] });
    });
    symlinkSync('/nowhere', join(d, 'rootfs', 'dangling'));
    const bad = env.runtime(['run', '-b', d, env.id()]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /\/dangling\/x/);
    assert.ok(!existsSync(join(d, 'rootfs', 'nowhere')), 'the dangling link\'s target was made');
  });

  test('/proc as a symlink to / stays inside the container', () => {
    const b = env.bundle(sh('echo ok'));
    const root = join(b, 'rootfs');
    rmdirSync(join(root, 'proc'));
    symlinkSync('/', join(root, 'proc'));
    const before = readFileSync('/proc/self/mountinfo', 'utf8');
    env.runtime(['run', '-b', b, env.id()]);
    assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').length, before.split('\n').length);
  });

  test('no host fd or cwd leaks into the container (CVE-2024-21626)', () => {
    // cwd through a leaked fd would be outside the root: it must fail or stay inside
    const marker = `${env.id()}-host-only`;
    writeFileSync(join(env.dir, marker), '');
    for (let fd = 3; fd < 12; fd++) {
      const r = env.run(sh('pwd; ls -a . ..; ls -a ../..'), (s) => { s.process.cwd = `/proc/self/fd/${fd}`; });
      // either refused, or a cwd inside the container's own root
      if (r.code === 0) {
        assert.match(r.out, /^\//, `fd ${fd}: cwd outside the root: ${r.out}`);
        assert.doesNotMatch(r.out, new RegExp(`${marker}|\\bsys\\b.*\\bvar\\b|\\bwork\\b`), `fd ${fd} reached the host: ${r.out}`);
      }
    }
    const r = env.run(sh('ls /proc/self/fd'));
    assert.deepEqual(r.out.trim().split('\n').map(Number).sort(), [0, 1, 2, 3]);
  });

  test('the executor\'s binary cannot be reached for writing (CVE-2019-5736)', async () => {
    const id = env.id();
    const b = env.bundle(sh('sleep 30'), (s) => { s.linux.namespaces = s.linux.namespaces.filter((n: { type: string }) => n.type !== 'pid'); });
    assert.equal(env.runtime(['run', '-d', '-b', b, id]).status, 0);
    // an exec joins the container; from inside, its /proc/PID/exe is a sealed copy
    const r = env.runtime(['exec', id, 'sh', '-c', 'for p in /proc/[0-9]*; do l=$(readlink $p/exe 2>/dev/null); case "$l" in *berth*) echo "$l"; (echo x >> $p/exe) 2>&1 | head -1;; esac; done']);
    env.runtime(['delete', '-f', id]);
    assert.doesNotMatch(r.stdout, /build\/Release\/berth-exec$/m, r.stdout);
  });
});

describe('a cgroup v2-only host', () => {
  // This VM is hybrid. A private mount namespace that shows only the cgroup2
  // hierarchy at /sys/fs/cgroup is a v2-only host as far as berth can tell:
  // device access goes through an eBPF program, freezing through cgroup.freeze.
  const v2bin = join(env.dir, 'berth-runtime-v2only');
  writeFileSync(v2bin, `#!/bin/sh\nexec unshare -m --propagation private sh -c 'umount -R /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup && exec "$0" "$@"' ${BERTH_RUNTIME} "$@"\n`, { mode: 0o755 });
  const hostV2 = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.includes(' - cgroup2 '))?.split(' ')[4];

  test('devices are allowed and denied by an eBPF program', () => {
    const r = env.run(sh('mknod /tmp/tun c 10 200 && (exec 3</tmp/tun) 2>&1; echo x > /dev/null && echo null-ok; cat /proc/self/cgroup'), (s) => {
      s.linux.resources = { devices: [{ allow: false, access: 'rwm' }] };
    }, v2bin);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /can't open \/tmp\/tun: Operation not permitted\nnull-ok\n/);
    assert.match(r.out, /^0::\/$/m, 'inside its own v2 cgroup');
  });

  test('pause and resume through cgroup.freeze', () => {
    const id = env.id();
    const b = env.bundle(['sleep', '1000'], (s) => { s.linux.resources = { devices: [{ allow: false, access: 'rwm' }] }; });
    const rt = (args: string[]) => env.runtime(args, { bin: v2bin });
    assert.equal(rt(['run', '-d', '-b', b, id]).status, 0);
    const freeze = join(hostV2!, env.cgroupParent, b.split('/').pop()!, 'cgroup.freeze');
    assert.equal(rt(['pause', id]).status, 0);
    assert.equal(readFileSync(freeze, 'utf8').trim(), '1');
    assert.equal(JSON.parse(rt(['state', id]).stdout).status, 'paused');
    assert.equal(rt(['resume', id]).status, 0);
    assert.equal(readFileSync(freeze, 'utf8').trim(), '0');
    assert.equal(rt(['delete', '-f', id]).status, 0);
    assert.ok(!existsSync(freeze), 'the cgroup is removed');
  });
});
