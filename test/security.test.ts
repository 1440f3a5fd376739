// berth under attack, as an outside test found it: a container that swaps a
// directory for a symlink to a host path while cp and the archive API work
// (CVE-2018-15664's class); requests that must not take berthd down; exec
// failures that must not pass for success; values docker refuses.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { PREFIX, REPO } from './helpers/env.js';
import { makeRootfs } from './helpers/make-bundle.js';
import { tarOf as rootfsTar } from './helpers/oci-image.js';
import { PrivateBerthd } from './helpers/berthd.js';
import { RawApi, filesOf, tarOf } from './helpers/raw-api.js';

const work = mkdtempSync(join(tmpdir(), `${PREFIX}-security-`));
chmodSync(work, 0o755);
const IMG = 'berth-test/attacker:1';
const ROUNDS = Number(process.env.BERTH_RACE_ROUNDS ?? 1000);
const CLI_ROUNDS = Math.max(10, Math.floor(ROUNDS / 10));
after(() => rmSync(work, { recursive: true, force: true }));

/** Imports a busybox image named `ref` into `d` (its root made by `extra` too, when given). */
function importBusybox(d: PrivateBerthd, ref: string, extra?: (root: string) => void): void {
  const root = join(work, `${ref.replace(/\W/g, '-')}-rootfs`);
  makeRootfs(root);
  extra?.(root);
  const tarFile = `${root}.tar`;
  writeFileSync(tarFile, rootfsTar(root));
  const r = d.berth(['import', '-c', 'CMD ["sh"]', tarFile, ref]);
  assert.equal(r.code, 0, r.err);
}

/** The attacker's image: busybox and the swapper (test/fixtures/swapper.c). */
function withSwapper(root: string): void {
  const cc = spawnSync('cc', ['-static', '-O2', '-o', join(root, 'bin', 'swapper'), join(REPO, 'test', 'fixtures', 'swapper.c')], { encoding: 'utf8' });
  assert.equal(cc.status, 0, cc.stderr);
}

describe('paths inside a running container are hostile: cp and the archive API against a racing swapper', () => {
  const d = new PrivateBerthd();
  const hostDir = join(work, 'host');
  const marker = `HOST-SECRET-${randomBytes(8).toString('hex')}`;
  let api: RawApi;
  before(async () => {
    mkdirSync(hostDir);
    writeFileSync(join(hostDir, 'secret'), `${marker}\n`);
    await d.start();
    api = new RawApi(d.sock);
    importBusybox(d, IMG, withSwapper);
    // the swapper exchanges /w (a directory, with the container's secret) and /x (a symlink to the host
    // directory) for the whole test; both are made in the container's upper layer, where overlayfs can swap them
    const run = d.docker(['run', '-d', '--name', 'racer', IMG, 'sh', '-c', `mkdir /w && echo CONTAINER-DATA > /w/secret && ln -s ${hostDir} /x && exec swapper /w /x`]);
    assert.equal(run.code, 0, run.err);
    for (let i = 0; i < 100 && !d.docker(['logs', 'racer']).out.includes('swapping'); i++) await new Promise((res) => setTimeout(res, 20));
    assert.equal(d.docker(['logs', 'racer']).out, 'swapping\n', 'the swapper runs');
  });
  after(async () => {
    api?.close();
    await d.stop();
  });

  test(`${ROUNDS} archive reads and ${CLI_ROUNDS} berth cp out: never a byte of the host's file, and what succeeds is the container's`, async () => {
    let ok = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const a = await api.call('GET', '/containers/racer/archive?path=/w/secret');
      assert.ok(!a.body.includes(marker), `round ${i}: the host's file came out`);
      if (a.status === 200) {
        const files = await filesOf(a.body);
        assert.deepEqual([...files.keys()], ['secret'], `round ${i}`);
        assert.equal(files.get('secret')!.toString(), 'CONTAINER-DATA\n', `round ${i}`);
        ok++;
      } else {
        assert.equal(a.status, 404, `round ${i}: ${a.body}`);
      }
      const head = await api.call('HEAD', '/containers/racer/archive?path=/w/secret');
      assert.ok([200, 404].includes(head.status), `round ${i}: HEAD gave ${head.status}`);
    }
    assert.ok(ok > 0 && ok < ROUNDS, `${ok} of ${ROUNDS} reads succeeded: the swapper did not race them`);
    const out = join(work, 'out');
    mkdirSync(out);
    for (let i = 0; i < CLI_ROUNDS; i++) {
      const dest = join(out, `c${i}`);
      const r = d.berth(['cp', 'racer:/w/secret', dest]);
      if (r.code === 0) assert.equal(readFileSync(dest, 'utf8'), 'CONTAINER-DATA\n', `cp round ${i}`);
      else assert.match(r.err, /Could not find the file/, `cp round ${i}`);
      if (existsSync(dest)) assert.ok(!readFileSync(dest, 'utf8').includes(marker));
    }
  });

  test(`${ROUNDS} archive writes and ${CLI_ROUNDS} berth cp in: nothing lands outside the container, and every copy that succeeds is in it`, async () => {
    let ok = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const a = await api.call('PUT', `/containers/racer/archive?path=/w`, await tarOf({ [`planted-${i}`]: `planted ${i}\n` }), { 'content-type': 'application/x-tar' });
      if (a.status === 200 || a.status === 204) ok++;
      else assert.equal(a.status, 404, `round ${i}: ${a.body}`);
    }
    const src = join(work, 'in.txt');
    writeFileSync(src, 'copied in\n');
    let cliOk = 0;
    for (let i = 0; i < CLI_ROUNDS; i++) {
      const r = d.berth(['cp', src, `racer:/w/cli-${i}`]);
      if (r.code === 0) cliOk++;
    }
    assert.deepEqual(readdirSync(hostDir), ['secret'], 'a file was written into the host directory');
    assert.ok(ok > 0, 'no write succeeded: the test did not exercise the copy');
    // stop the swapper, then count what arrived: the directory is /w or /x now
    assert.equal(d.docker(['kill', 'racer']).code, 0);
    assert.equal(d.docker(['wait', 'racer']).code, 0);
    const archive = await api.call('GET', '/containers/racer/archive?path=/');
    assert.equal(archive.status, 200, archive.body.subarray(-200).toString());
    const names = [...(await filesOf(archive.body)).keys()];
    assert.equal(names.filter((n) => /(^|\/)planted-\d+$/.test(n)).length, ok, 'each write that succeeded is in the container');
    assert.equal(names.filter((n) => /(^|\/)cli-\d+$/.test(n)).length, cliOk, 'each cp that succeeded is in the container');
    assert.ok(names.every((n) => !n.includes('planted') || /^\.\/[wx]\/planted-\d+$/.test(n)), 'planted files are only in the swapped directory');
  });
});

/** Every route berthd serves, read from the source (so a new route is fuzzed too): method and path pattern. */
function routes(): { method: string; path: string }[] {
  const out: { method: string; path: string }[] = [];
  const walkDir = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walkDir(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
  for (const f of walkDir(join(REPO, 'src'))) {
    for (const m of readFileSync(f, 'utf8').matchAll(/\.add\('(GET|POST|PUT|DELETE|HEAD)', [`'](\/[^`']*)[`']/g)) {
      const path = m[2]!;
      for (const p of path.includes('${verb}') ? ['connect', 'disconnect'].map((v) => path.replace('${verb}', v)) : [path]) out.push({ method: m[1]!, path: p });
    }
  }
  return out;
}

/** Routes that would name a registry: fuzzed with bodies that cannot parse only (berthd also runs with no network here). */
const REGISTRY = /^\/(auth|images\/create|images\/\{name\*\}\/push|distribution|images\/search|build$)/;

describe('no request takes berthd down', () => {
  const d = new PrivateBerthd({ isolated: true });
  let api: RawApi;
  let execId = '';
  before(async () => {
    await d.start();
    api = new RawApi(d.sock);
    importBusybox(d, 'berth-test/fuzz:1');
  });
  after(async () => {
    api?.close();
    await d.stop();
  });

  /** The fixture the routes are aimed at: a running container (made again when a route removed it) and an exec whose start fails. */
  async function fixture(): Promise<void> {
    if ((await api.call('GET', '/containers/fz/json')).status !== 200 || !JSON.parse((await api.call('GET', '/containers/fz/json')).body.toString()).State.Running) {
      d.docker(['rm', '-f', 'fz']);
      const r = d.docker(['run', '-d', '--name', 'fz', 'berth-test/fuzz:1', 'sh', '-c', 'while true; do echo tick; sleep 0.05; done']);
      assert.equal(r.code, 0, r.err);
    }
    const x = await api.call('POST', '/containers/fz/exec', JSON.stringify({ Cmd: ['pwd'], WorkingDir: '/nonexistent', AttachStdout: true }), { 'content-type': 'application/json' });
    execId = JSON.parse(x.body.toString()).Id;
  }

  test('every route, with malformed and truncated bodies, garbage parameters, no Upgrade, and a client that hangs up at any point: the daemon answers /_ping after each', async () => {
    const all = routes();
    assert.ok(all.length > 50, `found ${all.length} routes`);
    let requests = 0;
    for (const { method, path } of all) {
      await fixture();
      const real = path.replace('{id}', path.startsWith('/exec/') ? execId : 'fz').replace('{name*}', 'berth-test/fuzz:1').replace('{name}', 'novolume');
      const fake = path.replace(/\{[a-z]+\*?\}/g, '%ZZ%00..%2F..');
      const bodies = REGISTRY.test(path) ? ['{"Detach": fals', '\u0000\u0001'] : ['', '{"Detach": false}', '{"Detach": fals', '[]', 'null', '"x"', '{"HostConfig": {"Memory": 1e400}}', '\u0000\u0001'];
      for (const target of REGISTRY.test(path) ? [fake] : [real, `${real}?path=%2Fproc%2Fself%2Froot&tail=-1&since=abc&h=x&w=-1&filters=%7B`, fake]) {
        for (const body of bodies) {
          const head = `${method} /v1.47${target} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
          // whole, cut after the answer's first bytes, cut before the body ends
          await api.cut(head + body, 1 << 20, 400);
          await api.cut(head + body, 16, 400);
          await api.cut(head + body.slice(0, Math.floor(body.length / 2)), 1, 50);
          requests += 3;
          assert.ok(await api.ping(), `berthd is gone after ${method} ${target} with ${JSON.stringify(body)}`);
        }
      }
      // the same asking to upgrade, as attach and exec do
      const up = `${method} /v1.47${real} HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{"Detach": false}`;
      await api.cut(up, 64, 300);
      await api.cut(up, 1 << 20, 300);
      requests += 2;
      assert.ok(await api.ping(), `berthd is gone after an upgraded ${method} ${real}`);
    }
    // malformed request lines and headers
    for (const raw of ['GARBAGE\r\n\r\n', 'GET /%ZZ HTTP/1.1\r\nHost: x\r\n\r\n', 'POST /containers/create HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n{', 'GET /v0.1/_ping HTTP/1.1\r\n\r\n', `GET /${'a'.repeat(70000)} HTTP/1.1\r\n\r\n`]) {
      await api.cut(raw, 1 << 20, 300);
      assert.ok(await api.ping(), `berthd is gone after ${JSON.stringify(raw.slice(0, 40))}`);
    }
    assert.ok(requests > 1000, `${requests} requests`);
  });
});

describe('exec failures, values docker refuses, limits', () => {
  const d = new PrivateBerthd({ isolated: true });
  let api: RawApi;
  before(async () => {
    await d.start();
    api = new RawApi(d.sock);
    importBusybox(d, 'berth-test/plain:1');
    assert.equal(d.docker(['run', '-d', '--name', 'ex', 'berth-test/plain:1', 'sleep', '1000']).code, 0);
  });
  after(async () => {
    api?.close();
    await d.stop();
  });

  test('a failed exec exits 127 (not found) or 126 (cannot run: not executable, a bad working directory) with the runtime\'s words, through both CLIs and exec inspect', async () => {
    const cases: [string[], number, RegExp][] = [
      [['ex', 'nosuchcmd'], 127, /exec: "nosuchcmd": executable file not found/],
      [['ex', '/nonexistent'], 127, /executable file not found/],
      [['-w', '/nonexistent', 'ex', 'pwd'], 126, /cwd \/nonexistent: No such file or directory/],
      [['ex', '/etc'], 126, /exec: "\/etc": permission denied/],
      [['ex', '/etc/passwd'], 126, /exec: "\/etc\/passwd": permission denied/],
    ];
    for (const [args, code, words] of cases) {
      for (const cli of [(a: string[]) => d.docker(a), (a: string[]) => d.berth(a)]) {
        const r = cli(['exec', ...args]);
        assert.equal(r.code, code, `exec ${args.join(' ')}: ${r.out}${r.err}`);
        assert.match(r.out + r.err, /OCI runtime exec failed/);
        assert.match(r.out + r.err, words);
      }
    }
    // the request that killed berthd: start without Upgrade, the exec failing
    const x = JSON.parse((await api.call('POST', '/containers/ex/exec', JSON.stringify({ Cmd: ['pwd'], WorkingDir: '/nonexistent', AttachStdout: true }), { 'content-type': 'application/json' })).body.toString());
    const start = await api.call('POST', `/exec/${x.Id}/start`, '{"Detach": false}', { 'content-type': 'application/json' });
    assert.equal(start.status, 200);
    assert.equal(start.body[0], 1, 'the error comes framed, on stdout, as docker frames it');
    assert.match(start.body.subarray(8).toString(), /^OCI runtime exec failed: .*cwd \/nonexistent/);
    const inspect = JSON.parse((await api.call('GET', `/exec/${x.Id}/json`)).body.toString());
    assert.equal(inspect.ExitCode, 126);
    assert.equal(inspect.Running, false);
    assert.equal(inspect.Pid, 0);
    assert.ok(await api.ping());
    // and a detached start that fails says so
    const y = JSON.parse((await api.call('POST', '/containers/ex/exec', JSON.stringify({ Cmd: ['nosuchcmd'] }), { 'content-type': 'application/json' })).body.toString());
    const detached = await api.call('POST', `/exec/${y.Id}/start`, '{"Detach": true}', { 'content-type': 'application/json' });
    assert.ok(detached.status >= 400, `detached start of a missing command: ${detached.status}`);
    assert.equal(JSON.parse((await api.call('GET', `/exec/${y.Id}/json`)).body.toString()).ExitCode, 127);
  });

  test('values docker refuses at create get its 400 and words, and leave nothing made', async () => {
    const before = d.docker(['ps', '-aq']).out;
    const fresh = join(work, 'must-not-be-made');
    const cases: [string, RegExp][] = [
      ['{"Image":"berth-test/plain:1","HostConfig":{"Memory":1e30}}', /^json: cannot unmarshal number 1e\+30 into Go struct field HostConfig\.Memory of type int64$/],
      ['{"Image":"berth-test/plain:1","HostConfig":{"Memory":18446744073709551616}}', /cannot unmarshal number .* HostConfig\.Memory of type int64/],
      ['{"Image":"berth-test/plain:1","HostConfig":{"CpuShares":-10}}', /^invalid CPU shares \(-10\): value must be a positive integer$/],
      ['{"Image":"berth-test/plain:1","WorkingDir":"rel/dir"}', /^the working directory 'rel\/dir' is invalid, it needs to be an absolute path$/],
      ['{"Image":"berth-test/plain:1","HostConfig":{"NanoCpus":-1}}', /^range of CPUs is from 0\.01 to \d+\.00, as there are only \d+ CPUs available$/],
      ['{"Image":"berth-test/plain:1","HostConfig":{"NanoCpus":1000000000000}}', /^range of CPUs is from 0\.01 to/],
      ['{"Image":"berth-test/plain:1","HostConfig":{"Binds":["/tmp:/"]}}', /^invalid volume specification: '\/tmp:\/': invalid mount config for type "bind": invalid specification: destination can't be '\/'$/],
      [`{"Image":"berth-test/plain:1","HostConfig":{"Binds":["${fresh}:/"]}}`, /destination can't be '\/'/],
      ['{"Image":"berth-test/plain:1","HostConfig":{"Mounts":[{"Type":"bind","Source":"/tmp","Target":"/"}]}}', /destination can't be '\/'/],
    ];
    for (const [body, words] of cases) {
      const r = await api.call('POST', '/v1.47/containers/create', body, { 'content-type': 'application/json' });
      assert.equal(r.status, 400, `${body}: ${r.body}`);
      assert.match(JSON.parse(r.body.toString()).message, words, body);
    }
    assert.equal(d.docker(['ps', '-aq']).out, before, 'no container was made');
    assert.ok(!existsSync(fresh), 'a refused bind made its source');
    const resize = await api.call('POST', '/v1.47/containers/ex/resize?w=abc&h=10');
    assert.equal(resize.status, 400);
    assert.equal(JSON.parse(resize.body.toString()).message, 'strconv.Atoi: parsing "abc": invalid syntax');
  });

  test('a 100 MiB JSON body gets a 413 naming the limit; a path through /proc/self is a 404; cp FILE RUNNING:/ works', async () => {
    const big = await api.call('POST', '/v1.47/containers/create', Buffer.alloc(100 << 20, 0x20), { 'content-type': 'application/json' });
    assert.equal(big.status, 413);
    assert.match(JSON.parse(big.body.toString()).message, /too large: the limit for a JSON body is 16 MiB/);
    assert.ok(await api.ping());
    for (const p of ['/proc/self/root/etc/passwd', '/proc/self/fd/0', '/proc/1/root/etc/shadow']) {
      const a = await api.call('GET', `/v1.47/containers/ex/archive?path=${encodeURIComponent(p)}`);
      assert.ok(a.status === 404 || (a.status === 200 && !a.body.includes('root:')), `${p}: ${a.status} ${a.body.subarray(0, 200)}`);
    }
    const f = join(work, 'to-root.txt');
    writeFileSync(f, 'at the root\n');
    for (const cli of [(a: string[]) => d.docker(a), (a: string[]) => d.berth(a)]) {
      const r = cli(['cp', f, 'ex:/']);
      assert.equal(r.code, 0, r.err);
      assert.equal(d.docker(['exec', 'ex', 'cat', '/to-root.txt']).out, 'at the root\n');
      d.docker(['exec', 'ex', 'rm', '/to-root.txt']);
    }
  });

  test('logs --tail reads from the log\'s end, across rotated files, for json-file and local', () => {
    for (const driver of ['json-file', 'local']) {
      const name = `lg-${driver}`;
      const r = d.docker(['run', '--name', name, '--log-driver', driver, '--log-opt', 'max-size=200k', '--log-opt', 'max-file=3', 'berth-test/plain:1', 'seq', '1', '60000']);
      assert.equal(r.code, 0, r.err);
      assert.equal(d.docker(['logs', '--tail', '1', name]).out, '60000\n', driver);
      assert.equal(d.docker(['logs', '--tail', '3', name]).out, '59998\n59999\n60000\n', driver);
      assert.equal(d.berth(['logs', '--tail', '2', name]).out, '59999\n60000\n', driver);
      const kept = d.docker(['logs', name]).out.trimEnd().split('\n');
      assert.equal(kept.at(-1), '60000', driver);
      const many = d.docker(['logs', '--tail', String(kept.length + 10), name]).out.trimEnd().split('\n');
      assert.deepEqual(many, kept, `${driver}: a tail longer than the log is the whole log`);
      assert.equal(d.docker(['logs', '--tail', '0', name]).out, '', driver);
    }
  });
});
