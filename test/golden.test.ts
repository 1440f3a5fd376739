// Golden tests, without root: a docker create body becomes a container
// config, an OCI spec and then the cgroup writes for a v1, a v2 and a hybrid
// host, each host's layout given as data. Setup is data: the whole path from
// the API to the files written is compared here, on any machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkCreateBody, checkHostConfig } from '../src/engine/validate.js';
import { containerConfig } from '../src/engine/container-config.js';
import { ociSpec } from '../src/engine/spec.js';
import { parseConfig } from '../src/runtime/config.js';
import { planCgroup, type CgroupHost } from '../src/runtime/cgroups/index.js';
import type { HostConfig } from '../src/engine/types.js';

const v1 = (c: string[], mount = c.join(',')) => ({ version: 1 as const, mount: `/sys/fs/cgroup/${mount}`, controllers: c, own: '/' });
// cpuset is left out of the v1 layouts: its writes inherit the host's own values, which a golden test cannot know
const HOSTS: Record<string, CgroupHost> = {
  v1: { mode: 'v1', hierarchies: [v1(['memory']), v1(['cpu', 'cpuacct']), v1(['pids']), v1(['blkio']), v1(['devices']), v1(['freezer'])] },
  v2: { mode: 'v2', hierarchies: [{ version: 2, mount: '/sys/fs/cgroup', controllers: ['cpu', 'io', 'memory', 'pids', 'hugetlb'], own: '/' }] },
  hybrid: { mode: 'hybrid', hierarchies: [v1(['memory']), v1(['cpu', 'cpuacct']), v1(['pids']), v1(['blkio']), v1(['devices']), v1(['freezer']), { version: 2, mount: '/sys/fs/cgroup/unified', controllers: [], own: '/' }] },
};

/** The writes for `body` on `host`, as paths below the container's cgroup (`{memory}/memory.max`). */
function writesFor(body: Record<string, unknown>, host: CgroupHost): string[] {
  const rootfs = mkdtempSync(join(tmpdir(), 'berth-golden-'));
  try {
    mkdirSync(join(rootfs, 'etc'));
    writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    const b = checkCreateBody(body, 2);
    const h = (b.HostConfig ?? {}) as HostConfig;
    checkHostConfig(h, b.Hostname);
    const { config } = containerConfig(b, { Cmd: ['sh'], Env: ['PATH=/bin'] }, 'c'.repeat(64));
    const spec = ociSpec({ id: 'c'.repeat(64), config, host: h, rootfs, etcFiles: { hostname: '/e/hostname', hosts: '/e/hosts', resolvConf: '/e/resolv.conf' }, mounts: [], cgroupParent: '/berth' });
    const oci = parseConfig(JSON.stringify(spec));
    const plan = planCgroup(host, `/berth/${'c'.repeat(64)}`, oci.linux.resources, []);
    return plan.writes.map((w) => `${w.file.replace(`/berth/${'c'.repeat(64)}`, '').replace(/^\/sys\/fs\/cgroup\/?/, '')} = ${w.value}${w.or ? ` (or ${w.or.split('/').pop()})` : ''}`);
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }
}

const LIMITS = { Image: 'x', HostConfig: { Memory: 64 << 20, NanoCpus: 500000000, CpuShares: 512, PidsLimit: 100, BlkioWeight: 300 } };

test('docker run -m 64m --cpus 0.5 --cpu-shares 512 --pids-limit 100 --blkio-weight 300: the cgroup writes on v1, v2 and hybrid hosts', () => {
  const resources = (w: string[]) => w.filter((x) => !x.includes('devices.'));
  assert.deepEqual(resources(writesFor(LIMITS, HOSTS.v1!)), [
    'memory/memory.limit_in_bytes = 67108864',
    'memory/memory.memsw.limit_in_bytes = 134217728',
    'cpu,cpuacct/cpu.shares = 512',
    'cpu,cpuacct/cpu.cfs_period_us = 100000',
    'cpu,cpuacct/cpu.cfs_quota_us = 50000',
    'pids/pids.max = 100',
    'blkio/blkio.weight = 300 (or blkio.bfq.weight)',
  ]);
  assert.deepEqual(writesFor(LIMITS, HOSTS.v2!), [
    'memory.max = 67108864',
    'memory.swap.max = 67108864',
    'cpu.weight = 20',
    'cpu.max = 50000 100000',
    'pids.max = 100',
    'io.bfq.weight = default 300 (or io.weight)',
  ]);
  // hybrid: the v1 controllers serve; the v2 hierarchy carries none of them
  assert.deepEqual(resources(writesFor(LIMITS, HOSTS.hybrid!)), resources(writesFor(LIMITS, HOSTS.v1!)));
});

test('the device rules: v1 writes docker\'s default allow list; v2 compiles them to an eBPF filter instead', () => {
  const devices = writesFor({ Image: 'x', HostConfig: { Devices: [] } }, HOSTS.v1!).filter((x) => x.includes('devices.'));
  assert.equal(devices[0], 'devices/devices.deny = a', 'everything is denied first');
  assert.ok(devices.includes('devices/devices.allow = c 1:3 rwm'), '/dev/null is allowed');
  assert.deepEqual(writesFor({ Image: 'x' }, HOSTS.v2!).filter((x) => x.includes('devices.')), []);
});

test('values refused on the way to the plan: their field and docker\'s words', () => {
  assert.throws(() => writesFor({ Image: 'x', HostConfig: { Memory: 1 << 20 } }, HOSTS.v2!), /Minimum memory limit allowed is 6MB/);
  assert.throws(() => writesFor({ Image: 'x', HostConfig: { NanoCpus: 3e9 } }, HOSTS.v2!), /range of CPUs is from 0\.01 to 2\.00/);
  assert.throws(() => writesFor({ Image: 'x', HostConfig: { BlkioWeight: 5 } }, HOSTS.v1!), /Range of blkio weight is from 10 to 1000/);
  // the runtime refuses what cgroup v2 cannot do (the engine discards it first, with docker's warning)
  assert.throws(() => writesFor({ Image: 'x', HostConfig: { OomKillDisable: true, Memory: 64 << 20 } }, HOSTS.v2!), /cgroup v2 has no way to disable the OOM killer/);
});

test('a create body as dockerd decodes it: fields docker does not know are ignored (dockerode\'s VolumesFrom: [], a name in the body); HostConfig\'s fields at the top level are the HostConfig when there is none, and only Memory, MemorySwap, CpuShares and CpusetCpus fill an inner one; a known field of the wrong type is still named', () => {
  const b = checkCreateBody({ Image: 'x', VolumesFrom: [], name: 'n', Foo: { a: 1 }, HostConfig: { Bogus: true, Dns: ['10.0.0.1'] } }, 2);
  assert.deepEqual(Object.keys(b).sort(), ['HostConfig', 'Image']);
  assert.deepEqual(b.HostConfig, { Dns: ['10.0.0.1'] });
  assert.deepEqual(checkCreateBody({ Image: 'x', Dns: ['10.0.0.2'], VolumesFrom: ['other'], Cpuset: '0' }, 2).HostConfig, { Dns: ['10.0.0.2'], VolumesFrom: ['other'], CpusetCpus: '0' });
  assert.deepEqual(checkCreateBody({ Image: 'x', Memory: 1 << 26, Dns: ['10.0.0.3'], HostConfig: { CpuShares: 512 } }, 2).HostConfig, { CpuShares: 512, Memory: 1 << 26 });
  assert.throws(() => checkCreateBody({ Image: 'x', Memory: 'lots' }, 2), /Memory: must be an integer/);
  assert.throws(() => checkCreateBody({ Image: 'x', HostConfig: { Memory: 'lots' } }, 2), /HostConfig\.Memory: must be an integer/);
  assert.throws(() => checkCreateBody({ Image: 7 }, 2), /Image: must be a string/);
  // names Object.prototype has are no fields: ignored, never kept (and never a 500)
  const proto = checkCreateBody(JSON.parse('{"Image": "x", "toString": "y", "constructor": 1, "HostConfig": {"constructor": "", "hasOwnProperty": 2}}'), 2);
  assert.deepEqual(proto, { Image: 'x', HostConfig: {} });
});
