// The engine judged by the real docker CLI (28.x) pointed at a private
// berthd: the container lifecycle, stdio, logs, exec, volumes, the seeds'
// demonstrations, a daemon crash with running containers, bad input, and
// 50 parallel runs that leave nothing behind.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { connect as netConnect, type Socket } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync, chmodSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir, release } from 'node:os';
import { PREFIX, REPO, isRunning, mountsUnder, pidsWhere, statFields } from './helpers/env.js';
import { makeRootfs } from './helpers/make-bundle.js';
import { tarOf } from './helpers/oci-image.js';
import { PrivateBerthd, BERTH, dockerBin } from './helpers/berthd.js';

const work = mkdtempSync(join(tmpdir(), `${PREFIX}-engine-`));
chmodSync(work, 0o755);
const IMG = 'berth-test/busybox:1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `cmd` under a pty (script(1)), as a terminal user would. */
function inPty(d: PrivateBerthd, cmd: string, timeout = 30000) {
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', env: d.env(), timeout });
  return { out: r.stdout, code: r.status };
}


describe('berthd listeners', () => {
  test('TCP is served on loopback when asked; any other address is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), `${PREFIX}-tcp-`));
    const port = 20000 + (process.pid % 20000);
    const args = ['--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'), '-H', `unix://${join(dir, 's.sock')}`];
    let daemon: ReturnType<typeof spawn> | undefined;
    try {
      const refused = spawnSync(join(BERTH, '..', 'berthd'), [...args, '-H', 'tcp://0.0.0.0:2375'], { encoding: 'utf8', timeout: 30000 });
      assert.equal(refused.status, 1);
      assert.match(refused.stderr, /loopback only/);
      daemon = spawn(join(BERTH, '..', 'berthd'), [...args, '-H', `tcp://127.0.0.1:${port}`], { stdio: 'ignore' });
      let r;
      for (let i = 0; i < 100; i++) {
        r = spawnSync(existsSync('/usr/local/bin/docker') ? '/usr/local/bin/docker' : 'docker', ['-H', `tcp://127.0.0.1:${port}`, 'version', '--format', '{{.Server.APIVersion}}'], { encoding: 'utf8' });
        if (r.status === 0) break;
        await sleep(50);
      }
      assert.equal(r!.stdout, '1.47\n');
    } finally {
      if (daemon && daemon.exitCode === null) { daemon.kill('SIGTERM'); await new Promise((res) => daemon!.once('exit', res)); }
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('berthd runs containers for the docker CLI', () => {
  const d = new PrivateBerthd();
  before(async () => {
    makeRootfs(join(work, 'rootfs'));
    writeFileSync(join(work, 'rootfs', 'etc', 'os-release'), 'ID=berthtest\nPRETTY_NAME="berth test image"\n');
    writeFileSync(join(work, 'rootfs', 'etc', 'shared.txt'), 'from the image\n');
    writeFileSync(join(work, 'rootfs.tar'), tarOf(join(work, 'rootfs')));
    await d.start();
    const r = d.berth(['import', '-c', 'CMD ["sh"]', join(work, 'rootfs.tar'), IMG]);
    assert.equal(r.code, 0, r.err);
  });
  after(async () => {
    await d.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('run --rm prints, exit codes come back, stdin pipes in, -t gives a terminal', () => {
    const r = d.docker(['run', '--rm', IMG, 'echo', 'hello from berth']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'hello from berth\n');
    assert.equal(d.docker(['run', '--rm', IMG, 'sh', '-c', 'exit 3']).code, 3);
    const cat = d.docker(['run', '--rm', '-i', IMG, 'cat'], 'hi\nthere\n');
    assert.equal(cat.out, 'hi\nthere\n');
    const err = d.docker(['run', '--rm', IMG, 'sh', '-c', 'echo out; echo err >&2']);
    assert.equal(err.out, 'out\n');
    assert.equal(err.err, 'err\n');
    // a working directory the image lacks is made, as docker's is
    assert.equal(d.docker(['run', '--rm', '-w', '/made/by/berth', IMG, 'pwd']).out, '/made/by/berth\n');
    // a start that fails: 127 and the daemon's words only (wait answers Error null, as docker's does)
    const failed = d.docker(['run', '--rm', IMG, '/no/such']);
    assert.equal(failed.code, 127);
    assert.match(failed.err, /^docker: Error response from daemon: .*\/no\/such/);
    assert.doesNotMatch(failed.err, /Error waiting for container/);
    const t = inPty(d, `docker run --rm -t ${IMG} tty`);
    assert.match(t.out, /\/dev\/pts\/0/);
    // an auto-removed container's writable layer is never synced (overlay volatile); a kept one's is
    const rootOf = (args: string[]) => d.docker(['run', ...args, IMG, 'grep', ' / ', '/proc/mounts']).out;
    assert.match(rootOf(['--rm']), /volatile/);
    const kept = rootOf(['--name', 'kept']);
    assert.match(kept, /^overlay \/ overlay /);
    assert.doesNotMatch(kept, /volatile/);
    d.docker(['rm', 'kept']);
    assert.equal(d.docker(['ps', '-aq']).out, '', '--rm removed every container');
  });

  test('large output comes whole and in order through both CLIs, to a slow reader too; logs rotate by max-size and max-file (json-file and local)', () => {
    const seq = (n: number) => Array.from({ length: n }, (_, i) => `${i + 1}\n`).join('');
    const out = seq(300000), err = seq(3000);
    for (const cli of [`${BERTH} --data-root ${d.dataRoot} -H unix://${d.sock}`, dockerBin]) {
      // the reader starts late: the pipe fills and the writers must wait, never drop
      const r = spawnSync('sh', ['-c', `${cli} run --rm ${IMG} sh -c 'seq 1 300000; seq 1 3000 >&2' 2>${work}/err | (sleep 0.5; cat) >${work}/out`], { encoding: 'utf8', env: d.env(), timeout: 60000 });
      assert.equal(r.status, 0, r.stderr);
      const got = readFileSync(join(work, 'out'), 'utf8'), gotErr = readFileSync(join(work, 'err'), 'utf8');
      for (const [name, have, want] of [['stdout', got, out], ['stderr', gotErr, err]] as const) {
        let at = 0;
        while (at < want.length && have[at] === want[at]) at++;
        assert.ok(have === want, `${cli}: ${name} has ${have.length} bytes, ${want.length} expected; from byte ${at}: ${JSON.stringify(have.slice(at, at + 200))}`);
      }
    }
    // rotation: files of at most 100 KiB, three kept, whole entries, nothing else left
    const id = d.docker(['run', '-d', '--log-opt', 'max-size=100k', '--log-opt', 'max-file=3', IMG, 'seq', '1', '200000']).out.trim();
    assert.equal(d.docker(['wait', id]).out, '0\n');
    const dir = join(d.dataRoot, 'containers', id);
    const logs = readdirSync(dir).filter((f) => f.includes('json.log')).sort();
    assert.deepEqual(logs, [`${id}-json.log`, `${id}-json.log.1`, `${id}-json.log.2`]);
    for (const f of logs) {
      const text = readFileSync(join(dir, f), 'utf8');
      assert.ok(text.length <= 100 * 1024, `${f} has ${text.length} bytes`);
      for (const line of text.trimEnd().split('\n')) JSON.parse(line);
    }
    const kept = d.docker(['logs', id]).out.trimEnd().split('\n').map(Number);
    assert.equal(kept.at(-1), 200000);
    assert.ok(kept.every((v, i) => i === 0 || v === kept[i - 1]! + 1), 'the kept lines follow each other without a gap');
    assert.ok(kept.length > 2000, `${kept.length} lines kept`); // two full files of ~75-byte entries at least
    assert.equal(d.docker(['rm', id]).code, 0);
    // the local driver: docker's protobuf entries, rotated files gzipped (compress=false keeps them plain)
    for (const compress of ['true', 'false']) {
      const lid = d.docker(['run', '-d', '--log-driver', 'local', '--log-opt', 'max-size=100k', '--log-opt', 'max-file=3', '--log-opt', `compress=${compress}`, IMG, 'sh', '-c', 'seq 1 200000; printf unterminated']).out.trim();
      assert.equal(d.docker(['wait', lid]).out, '0\n');
      const ldir = join(d.dataRoot, 'containers', lid, 'local-logs');
      const gz = compress === 'true' ? '.gz' : '';
      assert.deepEqual(readdirSync(ldir).sort(), ['container.log', `container.log.1${gz}`, `container.log.2${gz}`]);
      const all = d.docker(['logs', lid]).out;
      assert.ok(all.endsWith('200000\nunterminated'), all.slice(-40));
      const nums = all.trimEnd().split('\n').slice(0, -1).map(Number);
      assert.ok(nums.length > 2000 && nums.every((v, i) => i === 0 || v === nums[i - 1]! + 1), 'the kept lines follow each other');
      assert.match(d.docker(['logs', '-t', '--tail', '1', lid]).out, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z unterminated$/);
      assert.equal(d.docker(['rm', lid]).code, 0);
    }
    assert.match(d.docker(['run', '--rm', '--log-driver', 'local', '--log-opt', 'compress=maybe', IMG, 'true']).err, /compress: "maybe" must be true or false/);
    // a rotated file that cannot be gzipped (here its temporary name is taken by a directory) stays plain and is kept
    const fid = d.docker(['create', '--log-driver', 'local', '--log-opt', 'max-size=100k', '--log-opt', 'max-file=3', IMG, 'seq', '1', '200000']).out.trim();
    const fdir = join(d.dataRoot, 'containers', fid, 'local-logs');
    mkdirSync(join(fdir, 'container.log.1.gz.tmp'), { recursive: true });
    assert.equal(d.docker(['start', fid]).code, 0);
    assert.equal(d.docker(['wait', fid]).out, '0\n');
    assert.deepEqual(readdirSync(fdir).sort(), ['container.log', 'container.log.1', 'container.log.1.gz.tmp', 'container.log.2']);
    const fnums = d.docker(['logs', fid]).out.trimEnd().split('\n').map(Number);
    assert.equal(fnums.at(-1), 200000);
    assert.ok(fnums.length > 2000 && fnums.every((v, i) => i === 0 || v === fnums[i - 1]! + 1), 'the kept lines follow each other');
    assert.equal(d.docker(['rm', fid]).code, 0);
  });

  test('a shim maps no shared library and gives its output buffers back after a quiet second', async () => {
    const id = d.docker(['run', '-d', IMG, 'sh', '-c', 'seq 1 300000; sleep 60']).out.trim();
    for (let i = 0; i < 200 && !d.docker(['logs', '--tail', '1', id]).out.includes('300000'); i++) await sleep(50);
    const pid = d.docker(['inspect', '-f', '{{.State.Pid}}', id]).out.trim();
    const shim = statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'))[1];
    assert.equal(readFileSync(`/proc/${shim}/comm`, 'utf8').trim(), 'berth-shim');
    // static musl: no libc and no loader mapped (with glibc: 1.5 MiB resident)
    const files = new Set(readFileSync(`/proc/${shim}/maps`, 'utf8').split('\n').map((l) => l.split(/\s+/)[5]).filter((f) => f?.startsWith('/')));
    assert.deepEqual([...files].map((f) => f!.split('/').pop()), ['berth-shim']);
    // 2 MiB went through its 1 MiB read buffer and the log's buffers; a second later they are returned
    await sleep(1600);
    const kb = (f: string) => Number(new RegExp(`${f}:\\s+(\\d+)`).exec(readFileSync(`/proc/${shim}/status`, 'utf8'))![1]);
    assert.ok(kb('VmRSS') < 512, `the shim holds ${kb('VmRSS')} kB (anonymous ${kb('RssAnon')} kB)`);
    assert.equal(d.docker(['rm', '-f', id]).code, 0);
  });

  test('the berth CLI\'s output is written by the shim to the CLI\'s own stdout; a failed write ends it as its own write would', async () => {
    const cli = `${BERTH} --data-root ${d.dataRoot} -H unix://${d.sock}`;
    // stdout is a file: while the container runs, its shim holds that file and berthd does not
    const file = join(work, 'direct.out');
    const run = spawn('sh', ['-c', `${cli} run --rm ${IMG} sh -c 'echo first; sleep 3; echo second' > ${file}`], { env: d.env() });
    const ended = new Promise<number | null>((res) => run.on('exit', res));
    for (let i = 0; i < 200 && !(existsSync(file) && readFileSync(file, 'utf8') === 'first\n'); i++) await sleep(50);
    const holders = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try { return readdirSync(`/proc/${p}/fd`).some((fd) => { try { return readlinkSync(`/proc/${p}/fd/${fd}`) === file; } catch { return false; } }); } catch { return false; }
    }).map(Number);
    const comms = holders.map((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim());
    assert.ok(comms.includes('berth-shim'), `the file is held by ${comms.join(', ')}`);
    assert.ok(!holders.includes(d.daemon!.pid!), 'berthd kept a copy of the CLI\'s stdout');
    assert.equal(await ended, 0);
    assert.equal(readFileSync(file, 'utf8'), 'first\nsecond\n');
    // the reader leaves: the CLI ends as SIGPIPE would end it (141), the container runs on, as with docker
    const epipe = spawnSync('bash', ['-c', `${cli} run --name direct-epipe ${IMG} yes | head -1; echo "\${PIPESTATUS[0]}"`], { encoding: 'utf8', env: d.env(), timeout: 30000 });
    assert.equal(epipe.stdout, 'y\n141\n', epipe.stderr);
    assert.equal(d.docker(['inspect', '-f', '{{.State.Running}}', 'direct-epipe']).out, 'true\n');
    assert.equal(d.docker(['rm', '-f', 'direct-epipe']).code, 0);
    // a client that names another pid (here: one that reached the socket through a proxy) gets its output framed, as any client
    const id = d.docker(['create', IMG, 'echo', 'framed']).out.trim();
    const framed = await new Promise<Buffer>((res, rej) => {
      const s = netConnect(d.sock, () => s.write(`POST /v1.47/containers/${id}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nX-Berth-Output: direct; pid=1\r\n\r\n`));
      let got = Buffer.alloc(0), started = false;
      s.on('data', (b: Buffer) => {
        got = Buffer.concat([got, b]);
        if (!started && got.includes('\r\n\r\n')) { started = true; void d.api('POST', `/v1.47/containers/${id}/start`); }
      });
      s.on('end', () => res(got.subarray(got.indexOf('\r\n\r\n') + 4)));
      s.on('error', rej);
    });
    assert.deepEqual([...framed.subarray(0, 8)], [1, 0, 0, 0, 0, 0, 0, 7]);
    assert.equal(framed.subarray(8).toString(), 'framed\n');
    assert.equal(d.docker(['rm', id]).code, 0);
    // any other failure is named, as docker names an error in the stream
    const full = spawnSync('sh', ['-c', `${cli} run --rm ${IMG} echo hi > /dev/full`], { encoding: 'utf8', env: d.env(), timeout: 30000 });
    assert.equal(full.status, 1);
    assert.match(full.stderr, /error from daemon in stream: No space left on device/);
    // with a terminal the output still comes framed on the connection, as for any client
    assert.match(inPty(d, `${cli} run --rm -t ${IMG} tty`).out, /\/dev\/pts\/0/);
  });

  test('the berth CLI\'s front hands commands to workers berthd keeps started, which take its stdio and signals and run the next command after; or runs the Node CLI', async (t) => {
    const front = join(REPO, 'build', 'Release', 'berth-cli');
    const cli = ['--data-root', d.dataRoot, '-H', `unix://${d.sock}`];
    const linkOf = (pid: number, fd: number) => { try { return readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { return ''; } };
    const until = async (what: string, ok: () => boolean) => { for (let i = 0; i < 200 && !ok(); i++) await sleep(100); assert.ok(ok(), what); };
    d.berth(['ps']); // the first use starts the workers
    await until('berthd starts its CLI workers', () => d.cliWorkers().length === 2);
    // a long command: the front (no Node in it, no child) waits; a worker holds the front's stdout and runs it
    const name = 'front-logs';
    t.after(() => { d.berth(['rm', '-f', name]); }); // a failure here leaves nothing for the next tests
    assert.equal(d.berth(['run', '-d', '--name', name, IMG, 'sh', '-c', 'echo hello; sleep 600']).code, 0);
    const spawnLogs = (env: NodeJS.ProcessEnv = process.env) => {
      const p = spawn(BERTH, [...cli, 'logs', '-f', name], { stdio: ['ignore', 'pipe', 'pipe'], env });
      let out = '';
      p.stdout!.on('data', (b: Buffer) => { out += b; });
      return { p, out: () => out, ended: new Promise<number | null>((res) => p.on('exit', (code, sig) => res(code ?? (sig ? -1 : null)))) };
    };
    const workerOf = (front: number) => d.cliWorkers().filter((w) => linkOf(w, 1) === linkOf(front, 1));
    // with no worker ready within its wait (a loaded host), a front runs the Node CLI: then asked again
    const logsByWorker = async () => {
      for (let attempt = 1; ; attempt++) {
        await until('berthd has its CLI workers', () => d.cliWorkers().length >= 2);
        const l = spawnLogs();
        await until('logs -f prints', () => l.out() === 'hello\n');
        const worker = workerOf(l.p.pid!);
        if (worker.length || attempt === 5) return { ...l, worker };
        l.p.kill('SIGKILL');
        await l.ended;
      }
    };
    const logs = await logsByWorker();
    const pid = logs.p.pid!;
    assert.equal(readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), 'berth-cli');
    assert.equal(readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim(), '');
    assert.equal(logs.worker.length, 1, 'one worker writes to the front\'s stdout');
    // the front's end is the command's end, as when the Node CLI is killed
    logs.p.kill('SIGKILL');
    await logs.ended;
    await until('the worker ends with its front', () => !isRunning(logs.worker[0]!));
    // a signal the front gets is the command's: SIGTERM ends logs -f as it ends the Node CLI
    const term = await logsByWorker();
    // ctrl-z stops the command with its front, and fg (SIGCONT) lets both go on
    const [termWorker] = term.worker;
    assert.ok(termWorker, 'a worker runs logs -f again');
    const state = (p: number) => statFields(readFileSync(`/proc/${p}/stat`, 'utf8'))[0];
    term.p.kill('SIGTSTP');
    await until('front and worker stop', () => state(term.p.pid!) === 'T' && state(termWorker!) === 'T');
    term.p.kill('SIGCONT');
    await until('front and worker go on', () => state(term.p.pid!) !== 'T' && state(termWorker!) !== 'T');
    term.p.kill('SIGTERM');
    assert.equal(await term.ended, -1);
    // a worker runs the next command too, once it has let go of the last one's files; one that read stdin is its last
    const workers = () => d.cliWorkers().sort().join(' ');
    const file = join(work, 'front-out');
    let before = '';
    await until('the workers settle', () => { const now = workers(); const same = now === before && d.cliWorkers().length === 2; before = now; return same; });
    for (let i = 0; i < 3; i++) assert.equal(spawnSync('sh', ['-c', `${BERTH} ${cli.join(' ')} inspect -f '{{.Name}}' ${name} > ${file}`]).status, 0);
    assert.equal(readFileSync(file, 'utf8'), `/${name}\n`);
    // the pool is the same two again: a worker that ended after its command would have been replaced. On a slow
    // host a command running past the refill delay starts a third, which is let go when it finds the pool full
    await until('the same workers ran the commands', () => workers() === before);
    assert.deepEqual(d.cliWorkers().filter((w) => readdirSync(`/proc/${w}/fd`).some((fd) => linkOf(w, Number(fd)) === file)), [], 'a worker kept the file');
    // asked again if its front found no worker ready and ran the Node CLI itself (a loaded host)
    for (let attempt = 1; attempt <= 5 && workers() === before; attempt++) {
      assert.equal(d.berth(['exec', '-i', name, 'cat'], 'via stdin\n').out, 'via stdin\n');
      for (let i = 0; i < 50 && workers() === before; i++) await sleep(100);
    }
    await until('the worker that read stdin ends, another starts', () => d.cliWorkers().length === 2 && workers() !== before);
    // one that waits for its first command runs at SCHED_IDLE (policy 5), every thread: it starts on CPU no command wants.
    // A host that refuses SCHED_IDLE (probed) leaves it at SCHED_OTHER (0) and the nice 19 berthd gave it
    const idlePolicy = spawnSync('chrt', ['--idle', '0', 'true']).status === 0 ? 5 : 0;
    const policies = (p: number) => readdirSync(`/proc/${p}/task`).flatMap((t) => {
      try { return [Number(statFields(readFileSync(`/proc/${p}/task/${t}/stat`, 'utf8'))[38])]; } catch { return []; } // a thread that ended
    });
    const fresh = d.cliWorkers().find((w) => !before.split(' ').includes(String(w)))!;
    await until('the new worker runs at SCHED_IDLE once its launcher runs', () => { const p = policies(fresh); return p.length > 1 && p.every((x) => x === idlePolicy); });
    // asked not to, or for a berthd of another checkout, the front is the Node CLI
    const node = spawnLogs({ ...process.env, BERTH_CLI_WORKER: '0' });
    await until('logs -f in the Node CLI', () => node.out() === 'hello\n');
    assert.equal(readFileSync(`/proc/${node.p.pid}/comm`, 'utf8').trim(), 'node');
    node.p.kill('SIGKILL');
    await node.ended;
    const other = join(work, 'other-dist');
    mkdirSync(other);
    symlinkSync(join(REPO, 'dist', 'launcher.cjs'), join(other, 'launcher.cjs'));
    const elsewhere = spawnSync(front, [other, ...cli, 'inspect', '-f', '{{.Name}}', name], { encoding: 'utf8' });
    assert.deepEqual([elsewhere.status, elsewhere.stdout], [0, `/${name}\n`]);
    const refused = await d.api('POST', '/berth/cli', 'x', { connection: 'Upgrade', upgrade: 'berth-cli', 'content-length': '1', 'x-berth-dist': other });
    assert.equal(refused.status, 503);
    assert.match(refused.text, /runs the CLI of/);
    assert.equal(d.berth(['rm', '-f', name]).code, 0);
  });

  test('the seeds\' demonstrations: PID 1, only its own processes, host kernel, image release, a host pid', () => {
    assert.equal(d.docker(['run', '--rm', IMG, 'sh', '-c', 'echo $$']).out, '1\n');
    const ps = d.docker(['run', '--rm', IMG, 'ps', '-ef']).out.trim().split('\n');
    assert.equal(ps.length, 2, ps.join('\n')); // header and ps itself
    assert.equal(d.docker(['run', '--rm', IMG, 'uname', '-r']).out, `${release()}\n`);
    assert.match(d.docker(['run', '--rm', IMG, 'cat', '/etc/os-release']).out, /ID=berthtest/);
    const id = d.docker(['run', '-d', IMG, 'sleep', '30']).out.trim();
    const pid = Number(d.docker(['inspect', '-f', '{{.State.Pid}}', id]).out);
    assert.ok(pid > 1);
    assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /^sleep\x0030/);
    assert.notEqual(readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[0], '1');
    assert.equal(d.docker(['rm', '-f', id]).code, 0);
  });

  test('run -d, ps, logs -f, exec (-it through a pty), stop, inspect, stats, rm', async () => {
    const id = d.docker(['run', '-d', '--name', 'ticker', '-m', '64m', '--pids-limit', '20', IMG, 'sh', '-c', 'trap "echo bye; exit 0" TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done']).out.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const ps = d.docker(['ps', '--format', '{{.Names}} {{.Status}}']).out;
    assert.match(ps, /^ticker Up /m);
    await sleep(500);
    const logs = d.docker(['logs', '--tail', '2', 'ticker']).out.trim().split('\n');
    assert.equal(logs.length, 2);
    assert.match(logs[1]!, /^tick \d+$/);
    assert.equal(d.docker(['exec', 'ticker', 'echo', 'inside']).out, 'inside\n');
    assert.equal(d.docker(['exec', 'ticker', 'sh', '-c', 'exit 5']).code, 5);
    assert.equal(d.docker(['exec', '-i', 'ticker', 'cat'], 'piped\n').out, 'piped\n');
    const it = inPty(d, 'docker exec -it ticker sh -c "tty; echo \\$TERM"');
    assert.match(it.out, /\/dev\/pts\/\d+\r?\n/);
    // exec -d is answered once the process runs (it used to wait for its exit); the
    // process is in every cgroup of the container (joined by clone3 and v1 `tasks`)
    const started = Date.now();
    assert.equal(d.docker(['exec', '-d', 'ticker', 'sleep', '77']).code, 0);
    assert.ok(Date.now() - started < 60000, 'exec -d waited for the process to end');
    const row = d.docker(['top', 'ticker']).out.split('\n').find((l) => l.endsWith('sleep 77'));
    assert.ok(row, 'the detached exec runs');
    const execPid = row.split(/\s+/)[1];
    const groups = readFileSync(`/proc/${execPid}/cgroup`, 'utf8').trim().split('\n');
    assert.ok(groups.length > 0 && groups.every((g) => g.endsWith(`${d.cgroupParent}/${id}`)), groups.join('\n'));
    // the executor ran from berthd's sealed copy (CVE-2019-5736), which neither the shim nor the process keeps open
    const shimPid = statFields(readFileSync(`/proc/${execPid}/stat`, 'utf8'))[1];
    assert.ok(readFileSync(`/proc/${shimPid}/cmdline`, 'utf8').split('\0').includes('--exec-fd'));
    for (const p of [shimPid, execPid]) {
      const links = readdirSync(`/proc/${p}/fd`).map((f) => { try { return readlinkSync(`/proc/${p}/fd/${f}`); } catch { return ''; } });
      assert.ok(!links.some((l) => l.includes('memfd:berth-exec')), `${p}: ${links.join(' ')}`);
    }
    // the shim's socket (made by berthd, handed over listening) reaches neither a container nor an exec: ls's own 3 only
    assert.equal(d.docker(['run', '--rm', IMG, 'ls', '/proc/self/fd']).out, '0\n1\n2\n3\n');
    assert.equal(d.docker(['exec', 'ticker', 'ls', '/proc/self/fd']).out, '0\n1\n2\n3\n');
    const stats = d.docker(['stats', '--no-stream', 'ticker']);
    assert.equal(stats.code, 0, stats.err);
    assert.match(stats.out, /\/ 64MiB/);
    const top = d.docker(['top', 'ticker']);
    assert.match(top.out, /while true/);
    // logs -f ends when the container stops
    const follow = spawnSync('sh', ['-c', `(sleep 0.5; docker stop ticker >/dev/null) & docker logs -f ticker`], { encoding: 'utf8', env: d.env(), timeout: 30000 });
    assert.match(follow.stdout, /tick 0\n/);
    assert.match(follow.stdout, /bye\n$/);
    const st = JSON.parse(d.docker(['inspect', 'ticker']).out)[0];
    assert.equal(st.State.Status, 'exited');
    assert.equal(st.State.ExitCode, 0);
    assert.equal(st.HostConfig.Memory, 64 * 1024 * 1024);
    assert.equal(d.docker(['rm', 'ticker']).code, 0);
    assert.match(d.docker(['inspect', 'ticker']).err, /No such (container|object)/);
  });

  test('volumes: named (copied up from the image on first use), bind, anonymous; rm -v', () => {
    assert.equal(d.docker(['volume', 'create', 'shared']).out, 'shared\n');
    const w = d.docker(['run', '--rm', '-v', 'shared:/etc/sharedvol', IMG, 'sh', '-c', 'echo written > /etc/sharedvol/new']);
    assert.equal(w.code, 0, w.err);
    assert.equal(d.docker(['run', '--rm', '-v', 'shared:/data', IMG, 'cat', '/data/new']).out, 'written\n');
    // copy-up: an empty volume over an image directory gets the image's files
    const up = d.docker(['run', '--rm', '-v', 'fresh:/etc', IMG, 'cat', '/etc/shared.txt']);
    assert.equal(up.out, 'from the image\n');
    const host = join(work, 'bind');
    const b = d.docker(['run', '--rm', '-v', `${host}:/mnt`, IMG, 'sh', '-c', 'echo via-bind > /mnt/f']);
    assert.equal(b.code, 0, b.err);
    assert.equal(readFileSync(join(host, 'f'), 'utf8'), 'via-bind\n');
    assert.notEqual(d.docker(['run', '--rm', '-v', `${host}:/mnt:ro`, IMG, 'sh', '-c', 'echo x > /mnt/g']).code, 0);
    assert.match(d.docker(['volume', 'ls', '-q']).out, /^shared$/m);
    assert.match(d.docker(['volume', 'rm', 'shared']).out, /shared/);
    assert.equal(d.docker(['volume', 'rm', 'fresh']).code, 0);
    assert.match(d.docker(['volume', 'inspect', 'shared']).err, /no such volume/i);
  });

  test('docker save and docker load', () => {
    assert.equal(d.docker(['tag', IMG, 'berth-test/saved:1']).code, 0);
    const tar = join(work, 'saved.tar');
    assert.equal(d.docker(['save', '-o', tar, 'berth-test/saved:1']).code, 0);
    assert.equal(d.docker(['rmi', 'berth-test/saved:1']).code, 0);
    assert.equal(d.docker(['load', '-i', tar]).out, 'Loaded image: berth-test/saved:1\n');
    assert.equal(d.docker(['run', '--rm', 'berth-test/saved:1', 'echo', 'loaded']).out, 'loaded\n');
    assert.match(d.docker(['save', 'berth-test/nosuch:1']).err, /No such image: berth-test\/nosuch:1/);
    assert.notEqual(d.docker(['load'], 'not a tar').code, 0);
    assert.equal(d.docker(['rmi', 'berth-test/saved:1']).code, 0, 'the daemon still serves');
  });

  test('berth cp copies host paths both ways as docker cp does', async (t) => {
    t.after(() => { d.docker(['rm', '-f', 'cp']); d.docker(['volume', 'rm', '-f', 'cpvol']); }); // a failure here leaves nothing for the next tests
    assert.equal(d.docker(['run', '-d', '--name', 'cp', '-v', 'cpvol:/vol', '--tmpfs', '/scratch', IMG, 'sh', '-c', 'mkdir /tmp/b /tmp/k; echo in-tmpfs > /scratch/t; sleep 60']).code, 0);
    const src = join(work, 'cp-src');
    mkdirSync(join(src, 'd', 'sub'), { recursive: true });
    writeFileSync(join(src, 'file'), 'top\n');
    writeFileSync(join(src, 'd', 'sub', 'f'), 'deep\n');
    const clis = { b: (a: string[]) => d.berth(a), k: (a: string[]) => d.docker(a) };
    const tree = (list: string, root: string) => list.trim().split('\n').map((l) => l.replace(root, '')).sort().join('\n');
    for (const [tag, cli] of Object.entries(clis)) {
      const out = join(work, `cp-out-${tag}`);
      mkdirSync(out);
      for (const [from, to] of [[join(src, 'file'), 'cp:/tmp/T/'], [join(src, 'file'), 'cp:/tmp/T/renamed'], [join(src, 'd'), 'cp:/tmp/T/newd'], [join(src, 'd'), 'cp:/tmp/T/'], [`${join(src, 'd')}/.`, 'cp:/tmp/T/newd'],
        ['cp:/etc/os-release', `${out}/`], ['cp:/etc/os-release', `${out}/rel`], ['cp:/tmp/b/d', out], ['cp:/tmp/b/d', `${out}/dd`], ['cp:/tmp/b/d/.', `${out}/content`],
        [join(src, 'file'), 'cp:/vol/T'], ['cp:/etc/hostname', out], ['cp:/scratch/t', out]]) {
        const r = cli(['cp', from!.replace('/T', `/${tag}`), to!.replace('/T', `/${tag}`)]);
        assert.equal(r.code, 0, `${tag}: cp ${from} ${to}: ${r.err}`);
      }
    }
    const inside = (t: string) => tree(d.docker(['exec', 'cp', 'sh', '-c', `find /tmp/${t} -exec sh -c 'echo "$1 $(cat "$1" 2>/dev/null)"' _ {} \\;`]).out, `/tmp/${t}`);
    assert.equal(inside('b'), inside('k'));
    assert.match(inside('b'), /^\/newd\/sub\/f deep$/m);
    const outside = (t: string) => tree(spawnSync('sh', ['-c', `cd ${work}/cp-out-${t} && find . -exec sh -c 'echo "$1 $(cat "$1" 2>/dev/null)"' _ {} \\;`], { encoding: 'utf8' }).stdout, '');
    assert.equal(outside('b'), outside('k'));
    assert.match(outside('b'), /^\.\/content\/sub\/f deep$/m);
    // a running container's mounts are followed: its hostname file, a tmpfs, a volume
    assert.match(outside('b'), /^\.\/hostname [0-9a-f]{12}$/m);
    assert.match(outside('b'), /^\.\/t in-tmpfs$/m);
    assert.equal(d.docker(['run', '--rm', '-v', 'cpvol:/v', IMG, 'cat', '/v/b', '/v/k']).out, 'top\ntop\n');
    // refusals name what is wrong
    assert.match(d.berth(['cp', join(src, 'nosuch'), 'cp:/tmp']).err, /no such file or directory: .*nosuch/);
    assert.match(d.berth(['cp', join(src, 'file'), 'cp:/no/such/dir/x']).err, /Could not find the file \/no\/such\/dir/);
    assert.match(d.berth(['cp', join(src, 'file'), 'nosuchctr:/tmp']).err, /No such container: nosuchctr/);
    assert.match(d.berth(['cp', 'cp:/etc', join(src, 'file')]).err, /cannot copy a directory to the file/);
    assert.match(d.berth(['cp', src, join(src, 'file')]).err, /one of the paths must be CONTAINER:PATH/);
    // a stopped container: its volume and /etc files are shown too, and nothing stays mounted after
    assert.equal(d.docker(['stop', '-t', '1', 'cp']).code, 0);
    for (const [tag, cli] of Object.entries(clis)) {
      const r = cli(['cp', 'cp:/vol/b', join(work, `stopped-${tag}`)]);
      assert.equal(r.code, 0, r.err);
      assert.equal(readFileSync(join(work, `stopped-${tag}`), 'utf8'), 'top\n');
    }
    assert.equal(d.berth(['cp', join(src, 'file'), 'cp:/vol/while-stopped']).code, 0);
    assert.match(d.berth(['cp', 'cp:/etc/hostname', '-']).out, /[0-9a-f]{12}\n/);
    assert.deepEqual(mountsUnder(d.dataRoot), []);
    // the response ends only once what the copy mounted is unmounted: a client that checks at once finds nothing
    for (let i = 0; i < 30; i++) {
      const path = i % 3 === 2 ? '/containers/cp/export' : `/containers/cp/archive?path=${i % 3 ? '/vol/b' : '/etc/hostname'}`;
      assert.equal((await d.api('GET', path)).status, 200);
      assert.deepEqual(mountsUnder(d.dataRoot), [], `after GET ${path}`);
    }
    assert.equal(d.docker(['run', '--rm', '-v', 'cpvol:/v', IMG, 'cat', '/v/while-stopped']).out, 'top\n');
    assert.equal(d.docker(['rm', '-f', 'cp']).code, 0);
    assert.equal(d.docker(['volume', 'rm', 'cpvol']).code, 0);
  });

  test('export, cp both ways, diff and commit', () => {
    const r = d.docker(['run', '--name', 'fs', IMG, 'sh', '-c', 'echo new > /etc/added; rm /etc/shared.txt; mkdir /data']);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(d.docker(['diff', 'fs']).out.trim().split('\n'), ['A /data', 'C /etc', 'A /etc/added', 'D /etc/shared.txt']);
    const names = spawnSync('sh', ['-c', 'docker export fs | tar t'], { encoding: 'utf8', env: d.env() }).stdout.split('\n');
    assert.ok(names.includes('./etc/added') && names.includes('./bin/busybox') && !names.includes('./etc/shared.txt'));
    assert.equal(d.docker(['cp', 'fs:/etc/added', join(work, 'added.out')]).code, 0);
    assert.equal(readFileSync(join(work, 'added.out'), 'utf8'), 'new\n');
    writeFileSync(join(work, 'in.txt'), 'from the host\n');
    assert.equal(d.docker(['cp', join(work, 'in.txt'), 'fs:/data/']).code, 0);
    assert.equal(d.docker(['cp', join(work, 'in.txt'), 'fs:/data/']).code, 0, 'a second copy replaces the file');
    assert.match(d.docker(['cp', 'fs:/no/such', join(work, 'x')]).err, /Could not find the file/);
    const c = d.docker(['commit', '-c', 'ENV FOO=bar', 'fs', 'berth-test/committed:1']);
    assert.equal(c.code, 0, c.err);
    const out = d.docker(['run', '--rm', 'berth-test/committed:1', 'sh', '-c', 'cat /etc/added /data/in.txt; echo $FOO; test -e /etc/shared.txt || echo deleted']);
    assert.equal(out.out, 'new\nfrom the host\nbar\ndeleted\n');
    assert.equal(d.docker(['rm', 'fs']).code, 0);
    assert.equal(d.docker(['rmi', 'berth-test/committed:1']).code, 0);
    // the mount points berth makes for /etc/hosts, --init, volumes and binds are not the container's
    // changes (docker keeps them in a hidden init layer): not in diff, size or commit
    const fresh = d.docker(['run', '-d', '--init', '-v', `${work}:/from-host`, '--tmpfs', '/scratch', IMG, 'sleep', '60']).out.trim();
    assert.equal(d.docker(['diff', fresh]).out, '');
    assert.match(d.docker(['ps', '-s', '--filter', `id=${fresh}`, '--format', '{{.Size}}']).out, /^0B /);
    assert.equal(d.docker(['commit', fresh, 'berth-test/fresh:1']).code, 0);
    const layers = spawnSync('sh', ['-c', `docker save berth-test/fresh:1 | tar -xO manifest.json`], { encoding: 'utf8', env: d.env() }).stdout;
    const top = (JSON.parse(layers) as { Layers: string[] }[])[0]!.Layers.at(-1)!;
    assert.equal(spawnSync('sh', ['-c', `docker save berth-test/fresh:1 | tar -xO ${top} | tar -t`], { encoding: 'utf8', env: d.env() }).stdout, '');
    assert.equal(d.docker(['rm', '-f', fresh]).code, 0);
    assert.equal(d.docker(['rmi', 'berth-test/fresh:1']).code, 0);
  });

  test('the berth CLI passes the signals it gets on to an attached container, as docker\'s sig-proxy does', async () => {
    const interrupted = (extra: string[]) => new Promise<{ out: string; code: number | null }>((res) => {
      const c = spawn(BERTH, ['--data-root', d.dataRoot, '-H', `unix://${d.sock}`, 'run', ...extra, IMG, 'sh', '-c', 'trap "echo got INT; exit 7" INT; echo ready; while true; do sleep 0.1; done']);
      let out = '';
      c.stdout.on('data', (x: Buffer) => { out += x; if (out.includes('ready') && !c.killed) c.kill('SIGINT'); });
      c.on('exit', (code) => res({ out, code }));
    });
    assert.deepEqual(await interrupted(['--rm']), { out: 'ready\ngot INT\n', code: 7 });
    // without it, only the CLI ends; the container goes on
    const alone = await interrupted(['--name', 'unproxied', '--sig-proxy=false']);
    assert.equal(alone.out, 'ready\n');
    assert.notEqual(alone.code, 7);
    assert.equal(d.docker(['inspect', '-f', '{{.State.Running}}', 'unproxied']).out, 'true\n');
    assert.equal(d.docker(['rm', '-f', 'unproxied']).code, 0);
  });

  test('the berth CLI prints what the docker CLI prints', () => {
    const since = String(Math.floor(Date.now() / 1000));
    assert.equal(d.docker(['run', '-d', '--name', 'same-up', '-l', 'k=v', IMG, 'sleep', '60']).code, 0);
    assert.equal(d.docker(['run', '--name', 'same-done', IMG, 'sh', '-c', 'echo out; echo err >&2; exit 3']).code, 3);
    const until = String(Math.floor(Date.now() / 1000) + 1);
    try {
      for (const args of [
        ['events', '--since', since, '--until', until, '--filter', 'container=same-done'], ['events', '--since', since, '--until', until, '--format', '{{.Type}} {{.Action}} {{.Status}}'],
        ['ps', '-a', '--no-trunc', '-q'], ['ps', '-a', '--filter', 'status=exited', '--format', '{{.Names}}\\t{{.State}}'], ['ps', '--filter', 'label=k=v', '-q'],
        ['inspect', '-f', '{{.State.Status}} {{.Name}} {{.State.ExitCode}}', 'same-up', 'same-done'], ['logs', 'same-done'], ['wait', 'same-done'],
        ['version', '--format', '{{.Server.Version}} {{.Server.Os}} {{.Client.Os}}'], ['start', 'nosuch'], ['stop', 'nosuch'], ['exec', 'same-done', 'true'],
        ['rm', 'same-up'], ['network', 'ls'], ['volume', 'ls'], ['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'], ['rmi', 'nosuch'],
        ['rename', 'nosuch', 'x'], ['stats', '--no-stream', '--format', '{{.Name}}:{{.PIDs}}', 'same-up'], ['history', '--format', '{{.ID}}:{{.Size}}', IMG],
        ['tag', 'nosuch', 'x'], ['port', 'same-up', '80'], ['inspect', 'nosuch'], ['inspect', 'same-up', 'nosuch', '--format', '{{.Name}}'],
        ['inspect', IMG, '--format', '{{.Os}}'], ['volume', 'inspect', 'nosuch'], ['network', 'inspect', 'nosuch'], ['container', 'inspect', 'nosuch'],
        ['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}', IMG.split(':')[0]!], ['images', '-q', '--filter', 'reference=berth-test/*'], ['images', '-q', '--filter', 'dangling=false', '--filter', `before=${IMG}`],
        ['ps', '-a', '--filter', 'before=same-done', '--format', '{{.Names}}'], ['ps', '-a', '--filter', 'since=same-up', '--format', '{{.Names}}'],
        ['logs', '--details', 'same-done'],
      ]) {
        const mine = d.berth(args), theirs = d.docker(args);
        assert.deepEqual(mine, theirs, args.join(' '));
      }
      // as dockerd prints them: the log's attributes (none here), then a space
      assert.equal(d.docker(['logs', '--details', 'same-done']).out, ' out\n');
    } finally {
      assert.equal(d.docker(['rm', '-f', 'same-up', 'same-done']).code, 0);
    }
  });

  test('the berth CLI: run, ps, logs, exec, diff, export, cp, commit, stop, rm', () => {
    assert.equal(d.berth(['run', '--rm', IMG, 'echo', 'hi']).out, 'hi\n');
    assert.equal(d.berth(['run', '--rm', IMG, 'sh', '-c', 'exit 9']).code, 9);
    assert.equal(d.berth(['run', '--rm', '-i', IMG, 'cat'], 'in\n').out, 'in\n');
    const id = d.berth(['run', '-d', '--name', 'cli', IMG, 'sh', '-c', 'echo started; echo x > /etc/cli; sleep 60']).out.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.match(d.berth(['ps']).out, /cli\n/);
    // --format as docker reads it: \t, and a table with its header
    assert.match(d.berth(['ps', '--format', 'table {{.Names}}\\t{{.State}}']).out, /^NAMES +STATE\ncli +running\n/);
    assert.equal(d.berth(['ps', '--format', '{{.Names}}\\t{{.State}}']).out, 'cli\trunning\n');
    assert.match(d.berth(['images', '--format', 'table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}', IMG.split(':')[0]!]).out, /^REPOSITORY +TAG +IMAGE ID\nberth-test\/busybox +1 +[0-9a-f]{12}\n$/);
    for (let i = 0; i < 50 && !d.berth(['logs', 'cli']).out; i++) spawnSync('sleep', ['0.05']);
    assert.equal(d.berth(['logs', 'cli']).out, 'started\n');
    assert.equal(d.berth(['exec', 'cli', 'cat', '/etc/cli']).out, 'x\n');
    assert.equal(d.berth(['exec', 'cli', 'sh', '-c', 'exit 4']).code, 4);
    assert.match(d.berth(['diff', 'cli']).out, /^A \/etc\/cli$/m);
    const tarList = spawnSync('sh', ['-c', `${BERTH} --data-root ${d.dataRoot} -H unix://${d.sock} export cli | tar t`], { encoding: 'utf8' }).stdout;
    assert.match(tarList, /^\.\/etc\/cli$/m);
    const cpOut = spawnSync('sh', ['-c', `${BERTH} --data-root ${d.dataRoot} -H unix://${d.sock} cp cli:/etc/cli - | tar xO`], { encoding: 'utf8' }).stdout;
    assert.equal(cpOut, 'x\n');
    assert.match(d.berth(['commit', 'cli', 'berth-test/cli:1']).out, /^sha256:[0-9a-f]{64}\n$/);
    assert.equal(d.berth(['run', '--rm', 'berth-test/cli:1', 'cat', '/etc/cli']).out, 'x\n');
    assert.equal(d.berth(['stop', '-t', '0', 'cli']).code, 0);
    assert.match(d.berth(['rm', 'cli']).out, /cli/);
    assert.match(d.berth(['rm', 'cli']).err, /No such container/);
    assert.match(d.berth(['run', '--rm', '--memory', 'lots', IMG, 'true']).err, /--memory: invalid size/);
    assert.equal(d.berth(['rmi', 'berth-test/cli:1']).code, 0);
    // with -H alone, image verbs work on that daemon's store (its DockerRootDir), not the default one
    const { BERTH_DATA_ROOT: _root, ...env } = process.env;
    const viaHost = spawnSync(BERTH, ['-H', `unix://${d.sock}`, 'images', '--format', '{{.Repository}}:{{.Tag}}'], { encoding: 'utf8', env });
    assert.equal(viaHost.stdout, `${IMG}\n`, viaHost.stderr);
    const other = spawnSync(BERTH, ['-H', `unix://${d.sock}`, '--data-root', join(work, 'elsewhere'), 'images'], { encoding: 'utf8', env });
    assert.equal(other.status, 1);
    assert.match(other.stderr, /--data-root: .*elsewhere is not the data root of the daemon at unix:.* \(/);
  });

  test('attach: ctrl-p ctrl-q detaches and leaves the container and its stdin open', async () => {
    const id = d.docker(['run', '-d', '-i', IMG, 'sh', '-c', 'while read l; do echo "got $l"; done']).out.trim();
    const attach = () => new Promise<Socket>((res, rej) => {
      const s = netConnect(d.sock, () => s.write(`POST /v1.47/containers/${id}/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`));
      let head = '';
      const onData = (b: Buffer) => { head += b.toString('latin1'); if (head.includes('\r\n\r\n')) { s.off('data', onData); res(s); } };
      s.on('data', onData);
      s.on('error', rej);
    });
    const a = await attach();
    let out = '';
    a.on('data', (b: Buffer) => { out += b.toString('latin1'); });
    const closed = new Promise((r) => a.on('close', r));
    a.write('one\n');
    for (let i = 0; i < 50 && !/got one/.test(out); i++) await sleep(50);
    assert.match(out, /got one/);
    a.write('\x10\x11');
    await closed; // the daemon ended this client
    assert.equal(JSON.parse(d.docker(['inspect', id]).out)[0].State.Running, true);
    const b = await attach();
    let out2 = '';
    b.on('data', (x: Buffer) => { out2 += x.toString('latin1'); });
    b.write('two\n');
    for (let i = 0; i < 50 && !/got two/.test(out2); i++) await sleep(50);
    assert.match(out2, /got two/, 'stdin stayed open after the detach');
    b.destroy();
    d.docker(['rm', '-f', id]);
  });

  test('devices, sysctls, security options, tmpfs, ulimits, shm, network modes, log driver none, port', (t) => {
    const run = (flags: string[], ...cmd: string[]) => d.docker(['run', '--rm', ...flags, IMG, ...cmd]);
    const dev = run(['--device', '/dev/null:/dev/mynull'], 'sh', '-c', 'ls -l /dev/mynull; echo x > /dev/mynull && echo wrote');
    assert.match(dev.out, /^c.* 1, +3 .*\/dev\/mynull\nwrote\n$/, dev.err);
    assert.equal(run(['--sysctl', 'net.ipv4.ip_forward=1'], 'cat', '/proc/sys/net/ipv4/ip_forward').out, '1\n');
    // /etc/hosts and /etc/resolv.conf, groups, the OOM killer, block I/O weight
    assert.match(run(['--add-host', 'db:10.1.2.3', '--add-host', 'v6=::1'], 'cat', '/etc/hosts').out, /\n10\.1\.2\.3\tdb\n::1\tv6\n[\d.]+\t[0-9a-f]{12}\n$/, "the container's own address comes last, as in docker's");
    assert.equal(run(['--dns', '10.0.0.53', '--dns-search', 'example.com', '--dns-option', 'ndots:2'], 'cat', '/etc/resolv.conf').out, 'nameserver 10.0.0.53\nsearch example.com\noptions ndots:2\n');
    assert.match(run(['--group-add', '1234', '--group-add', 'nogroup'], 'id').out, /groups=1234,65534\(nogroup\)\n$/);
    assert.match(run(['--group-add', 'nosuchgroup'], 'true').err, /unable to find group nosuchgroup/);
    // the OOM killer can be disabled only where cgroup v1 has the memory controller; elsewhere docker warns and runs
    const v1Memory = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => / - cgroup .*\bmemory\b/.test(l));
    const oom = run(['-m', '32m', '--oom-kill-disable'], 'sh', '-c', 'head -1 /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null || echo no v1 memory');
    t.diagnostic(v1Memory ? 'host: cgroup v1 memory controller: --oom-kill-disable checked in memory.oom_control'
      : 'host: no cgroup v1 memory controller: --oom-kill-disable checked to be discarded with docker\'s warning (the v1 check is not run here)');
    if (v1Memory) assert.equal(oom.out, 'oom_kill_disable 1\n', oom.err);
    else assert.match(oom.err, /WARNING: Your kernel does not support OomKillDisable\. OomKillDisable discarded\./);
    const weight = run(['--blkio-weight', '300'], 'sh', '-c', 'for f in /sys/fs/cgroup/blkio/blkio.weight /sys/fs/cgroup/blkio/blkio.bfq.weight /sys/fs/cgroup/io.weight /sys/fs/cgroup/io.bfq.weight; do [ -e $f ] && exec cat $f; done; echo none');
    // the host decides, as it does for docker: a weight file below the root (CFQ's or BFQ's) keeps the weight, else it is dropped with docker's warning
    const weightFiles = ['blkio/%/blkio.weight', 'blkio/%/blkio.bfq.weight', '%/io.weight', '%/io.bfq.weight', 'unified/%/io.weight', 'unified/%/io.bfq.weight'].map((f) => join('/sys/fs/cgroup', f.replace('%', d.cgroupParent)));
    const weighted = weightFiles.some((f) => existsSync(f));
    t.diagnostic(weighted ? 'host: a block I/O weight file (CFQ or BFQ): --blkio-weight checked to be kept'
      : 'host: no CFQ or BFQ weight file: --blkio-weight checked to be discarded with docker\'s warning (the kept-weight check is not run here)');
    if (weighted) {
      assert.match(weight.out, /^(default )?300\n/, weight.err);
      assert.doesNotMatch(weight.err, /WARNING/, 'this host takes a block I/O weight: it is kept');
    } else {
      assert.equal(weight.code, 0, weight.err);
      assert.match(weight.err, /WARNING: Your kernel does not support Block I\/O weight or the cgroup is not mounted\. Weight discarded\./);
    }
    assert.match(run(['--blkio-weight', '5'], 'true').err, /Range of blkio weight is from 10 to 1000/);
    // host namespaces, one at a time
    const ns = (t: string) => readlinkSync(`/proc/self/ns/${t}`);
    assert.equal(run(['--pid', 'host'], 'readlink', '/proc/self/ns/pid').out, `${ns('pid')}\n`);
    assert.equal(run(['--ipc', 'host'], 'readlink', '/proc/self/ns/ipc').out, `${ns('ipc')}\n`);
    assert.equal(run(['--uts', 'host'], 'readlink', '/proc/self/ns/uts').out, `${ns('uts')}\n`);
    assert.equal(run(['--cgroupns', 'host'], 'readlink', '/proc/self/ns/cgroup').out, `${ns('cgroup')}\n`);
    assert.notEqual(run([], 'readlink', '/proc/self/ns/pid').out, `${ns('pid')}\n`);
    const viaBerth = d.berth(['run', '--rm', '--add-host', 'db:10.1.2.3', '--dns', '10.0.0.53', '--group-add', '1234', '--pid', 'host', '--oom-kill-disable', '-m', '32m', IMG,
      'sh', '-c', 'grep -w db /etc/hosts; cat /etc/resolv.conf; id -G; readlink /proc/self/ns/pid; head -1 /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null || echo no v1 memory']);
    assert.equal(viaBerth.out, `10.1.2.3\tdb\nnameserver 10.0.0.53\n0 1234\n${ns('pid')}\n${v1Memory ? 'oom_kill_disable 1' : 'no v1 memory'}\n`, viaBerth.err);
    // another container's namespaces: its network (and names), processes and IPC
    const owner = d.docker(['run', '-d', IMG, 'sleep', '300']).out.trim();
    const ownerPid = d.docker(['inspect', '-f', '{{.State.Pid}}', owner]).out.trim();
    const joined = run(['--network', `container:${owner}`, '--pid', `container:${owner}`, '--ipc', `container:${owner}`], 'sh', '-c',
      'for n in net pid ipc; do readlink /proc/self/ns/$n; done; ps -o pid,comm | grep -c "1 sleep"; cat /etc/hostname');
    const want = ['net', 'pid', 'ipc'].map((t) => readlinkSync(`/proc/${ownerPid}/ns/${t}`)).join('\n');
    assert.equal(joined.out, `${want}\n1\n${owner.slice(0, 12)}\n`, joined.err);
    assert.equal(d.berth(['run', '--rm', '--network', `container:${owner}`, IMG, 'readlink', '/proc/self/ns/net']).out, `${readlinkSync(`/proc/${ownerPid}/ns/net`)}\n`);
    // the names and resolver are the owner's files, shared as in docker: what the owner adds, a joined container sees
    assert.equal(d.docker(['exec', owner, 'sh', '-c', 'echo "10.9.8.7\tadded" >> /etc/hosts']).code, 0);
    assert.equal(run(['--network', `container:${owner}`], 'tail', '-1', '/etc/hosts').out, '10.9.8.7\tadded\n');
    const paths = (id: string) => d.docker(['inspect', '-f', '{{.HostsPath}} {{.ResolvConfPath}} {{.HostnamePath}}', id]).out;
    const sharer = d.docker(['create', '--network', `container:${owner}`, IMG, 'true']).out.trim();
    assert.equal(paths(sharer), paths(owner));
    assert.equal(d.docker(['rm', sharer]).code, 0);
    assert.match(run(['--network', 'container:nosuch'], 'true').err, /NetworkMode: no such container: nosuch/);
    // legacy links are checked as docker checks them; without a bridge network they add nothing, as docker's do on none
    assert.equal(run(['--link', `${owner}:db`], 'true').code, 0);
    assert.match(run(['--link', 'nosuch:db'], 'true').err, /Links\[0\]: could not get container for nosuch/);
    assert.match(run(['--network', 'host', '--link', `${owner}:db`], 'true').err, /host type networking can't be used with links/);
    assert.match(d.docker(['create', '--pid', 'container:nosuch', IMG, 'true']).err, /PidMode: no such container: nosuch/); // refused at create
    assert.match(run(['--network', `container:${owner}`, '-h', 'x'], 'true').err, /conflicting options: hostname and the network mode/);
    const stopped = d.docker(['create', IMG, 'true']).out.trim();
    assert.match(run(['--pid', `container:${stopped}`], 'true').err, /cannot join the pid namespace of \S+: it is not running/);
    assert.equal(d.docker(['rm', '-f', owner, stopped]).code, 0);
    const bridgeGw = JSON.parse(d.docker(['network', 'inspect', 'bridge']).out)[0].IPAM.Config[0].Gateway;
    assert.match(run(['--add-host', 'gw:host-gateway'], 'cat', '/etc/hosts').out, new RegExp(`\n${bridgeGw.replace(/\./g, '\\.')}\tgw\n`), 'host-gateway is the default bridge\'s gateway');
    assert.match(run(['--uts', 'host', '-h', 'named'], 'true').err, /conflicting options: hostname and the UTS mode "host"/);
    const hostSysctl = d.berth(['run', '--rm', '--sysctl', 'vm.swappiness=1', IMG, 'true']);
    assert.equal(hostSysctl.code, 125);
    assert.match(hostSysctl.err, /vm\.swappiness: not namespaced/);
    assert.equal(run([], 'grep', '-E', 'NoNewPrivs|Seccomp:', '/proc/self/status').out, 'NoNewPrivs:\t0\nSeccomp:\t2\n');
    assert.equal(run(['--security-opt', 'no-new-privileges'], 'grep', 'NoNewPrivs', '/proc/self/status').out, 'NoNewPrivs:\t1\n');
    assert.equal(run(['--security-opt', 'seccomp=unconfined'], 'grep', 'Seccomp:', '/proc/self/status').out, 'Seccomp:\t0\n');
    const profile = join(work, 'no-mkdir.json');
    writeFileSync(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] }));
    for (const cli of [d.docker.bind(d), d.berth.bind(d)]) {
      const denied = cli(['run', '--rm', '--security-opt', `seccomp=${profile}`, IMG, 'mkdir', '/x']);
      assert.equal(denied.code, 1);
      assert.match(denied.err, /Operation not permitted/);
    }
    assert.match(d.berth(['run', '--rm', '--security-opt', 'seccomp=/nonexistent.json', IMG, 'true']).err, /cannot read the seccomp profile \/nonexistent\.json: ENOENT/);
    assert.match(run(['--tmpfs', '/scratch:size=1m'], 'grep', '/scratch', '/proc/mounts').out, /^tmpfs \/scratch tmpfs rw,.*size=1024k/);
    assert.match(run(['--shm-size', '8m'], 'grep', '/dev/shm', '/proc/mounts').out, /size=8192k/);
    assert.equal(run(['--ulimit', 'nofile=100:100'], 'sh', '-c', 'ulimit -n').out, '100\n');
    assert.match(run(['--cap-drop', 'CHOWN'], 'chown', '1', '/etc/passwd').err, /Operation not permitted/);
    assert.match(run(['--read-only'], 'touch', '/x').err, /Read-only file system/);
    assert.equal(run([], 'ls', '/sys/class/net').out, 'eth0\nlo\n', 'the default bridge gives eth0');
    assert.equal(run(['--network', 'none'], 'ls', '/sys/class/net').out, 'lo\n');
    const hostNet = run(['--network', 'host'], 'ls', '/sys/class/net').out.trim().split('\n').sort();
    assert.deepEqual(hostNet, readdirSync('/sys/class/net').sort());
    const quiet = d.docker(['run', '-d', '--log-driver', 'none', IMG, 'echo', 'hi']).out.trim();
    assert.equal(d.docker(['wait', quiet]).out, '0\n');
    assert.match(d.docker(['logs', quiet]).err, /configured logging driver does not support reading/);
    assert.equal(d.docker(['port', quiet]).out, '');
    assert.match(d.berth(['port', quiet, '80']).err, /No public port '80' published/);
    assert.equal(d.docker(['rm', quiet]).code, 0);
  });

  test('update changes a running container\'s limits and its restart policy', () => {
    const id = d.docker(['run', '-d', '-m', '64m', IMG, 'sleep', '60']).out.trim();
    const u = d.docker(['update', '--memory', '32m', '--memory-swap', '32m', '--pids-limit', '10', '--restart', 'on-failure:3', id]);
    assert.equal(u.code, 0, u.err);
    // v1's files, or v2's (the container's own cgroup namespace shows its cgroup at the root)
    const inside = d.docker(['exec', id, 'sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max']).out;
    assert.equal(inside, `${32 * 1024 * 1024}\n10\n`);
    assert.equal(d.docker(['update', '--memory', '128m', '--memory-swap', '256m', id]).code, 0, 'raising memory above the old memory+swap');
    assert.equal(d.docker(['inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}', id]).out, `${128 * 1024 * 1024} ${256 * 1024 * 1024} 10 on-failure\n`);
    assert.match(d.docker(['update', '--memory', '1k', id]).err, /Minimum memory limit/);
    d.docker(['rm', '-f', id]);
  });

  test('health checks: starting, unhealthy after the retries, healthy when the check passes; shown in ps and inspect', async () => {
    const id = d.docker(['run', '-d', '--health-cmd', 'test -e /tmp/ok', '--health-interval', '200ms', '--health-retries', '2', IMG, 'sleep', '60']).out.trim();
    assert.equal(JSON.parse(d.docker(['inspect', id]).out)[0].State.Health.Status, 'starting');
    for (let i = 0; i < 50 && !/unhealthy/.test(d.docker(['ps', '--format', '{{.Status}}']).out); i++) await sleep(100);
    assert.match(d.docker(['ps', '--format', '{{.Status}}']).out, /\(unhealthy\)/);
    d.docker(['exec', id, 'touch', '/tmp/ok']);
    for (let i = 0; i < 50 && !/\(healthy\)/.test(d.docker(['ps', '--format', '{{.Status}}']).out); i++) await sleep(100);
    const h = JSON.parse(d.docker(['inspect', id]).out)[0].State.Health;
    assert.equal(h.Status, 'healthy');
    assert.equal(h.FailingStreak, 0);
    assert.equal(h.Log.at(-1).ExitCode, 0);
    d.docker(['rm', '-f', id]);
  });

  test('restart policies: on-failure retries, always restarts; stop ends it', async () => {
    const id = d.docker(['run', '-d', '--restart', 'on-failure:2', IMG, 'sh', '-c', 'exit 1']).out.trim();
    for (let i = 0; i < 100 && JSON.parse(d.docker(['inspect', id]).out)[0].RestartCount < 2; i++) await sleep(100);
    await sleep(300);
    const s = JSON.parse(d.docker(['inspect', id]).out)[0];
    assert.equal(s.RestartCount, 2);
    assert.equal(s.State.Status, 'exited');
    d.docker(['rm', '-f', id]);
  });

  test('kill -9 of the daemon: containers keep running, are re-adopted, their logs and exit codes complete', async () => {
    const a = d.docker(['run', '-d', '--name', 'survivor', IMG, 'sh', '-c', 'for i in $(seq 1 30); do echo line $i; sleep 0.1; done; exit 7']).out.trim();
    const b = d.docker(['run', '-d', '--name', 'sleeper', IMG, 'sleep', '60']).out.trim();
    const pidB = Number(d.docker(['inspect', '-f', '{{.State.Pid}}', b]).out);
    // an auto-removed container that ends while no daemon runs: its end was never written, and is found on restart
    const gone = d.docker(['run', '-d', '--rm', IMG, 'sleep', '0.5']).out.trim();
    await sleep(300);
    const workers = d.cliWorkers();
    assert.ok(workers.length > 0, 'the berth CLI used berthd\'s workers');
    await d.crash();
    await sleep(500); // the containers go on without a daemon
    assert.ok(existsSync(`/proc/${pidB}`), 'the container outlived the daemon');
    assert.deepEqual(workers.filter(isRunning), [], 'the waiting CLI workers ended with their daemon');
    await d.start();
    assert.match(d.docker(['inspect', gone]).err, /No such (container|object)/);
    assert.match(d.docker(['ps', '--format', '{{.Names}}']).out, /sleeper/);
    assert.equal(d.docker(['inspect', '-f', '{{.State.Pid}}', 'sleeper']).out.trim(), String(pidB));
    assert.equal(d.docker(['wait', 'survivor']).out, '7\n');
    const lines = d.docker(['logs', 'survivor']).out.trim().split('\n');
    assert.deepEqual(lines, Array.from({ length: 30 }, (_, i) => `line ${i + 1}`));
    assert.equal(d.docker(['exec', 'sleeper', 'echo', 'still here']).out, 'still here\n');
    // a graceful stop, with a follower and an attached client still streaming, ends berthd and not the container
    const follower = spawn(dockerBin, ['logs', '-f', 'sleeper'], { env: d.env(), stdio: 'ignore' });
    const attached = spawn(dockerBin, ['attach', 'sleeper'], { env: d.env(), stdio: 'ignore' });
    await sleep(500);
    await d.term();
    assert.ok(existsSync(`/proc/${pidB}`), 'the container outlived the stopped daemon');
    await Promise.all([follower, attached].map((c) => new Promise((r) => (c.exitCode !== null ? r(0) : c.once('exit', r)))));
    await d.start();
    assert.equal(d.docker(['inspect', '-f', '{{.State.Pid}}', 'sleeper']).out.trim(), String(pidB));
    d.docker(['rm', '-f', a, b]);
  });

  test('a crash between the shim\'s start and the state write: the start is finished on restart', async () => {
    const id = d.docker(['run', '-d', '--name', 'halfstarted', IMG, 'sh', '-c', 'trap "exit 4" TERM; while true; do sleep 0.1; done']).out.trim();
    const pid = Number(d.docker(['inspect', '-f', '{{.State.Pid}}', id]).out);
    await d.crash();
    // what the record says when the crash comes before the start is written
    const f = join(d.dataRoot, 'containers', id, 'config.v2.json');
    const rec = JSON.parse(readFileSync(f, 'utf8'));
    writeFileSync(f, JSON.stringify({ ...rec, State: { ...rec.State, Status: 'created', Running: false, Pid: 0, StartedAt: '0001-01-01T00:00:00Z' } }));
    await d.start();
    assert.equal(d.docker(['inspect', '-f', '{{.State.Status}} {{.State.Pid}}', id]).out, `running ${pid}\n`);
    assert.match(d.docker(['ps', '--format', '{{.Names}}']).out, /halfstarted/);
    assert.equal(d.docker(['stop', id]).code, 0);
    assert.equal(d.docker(['inspect', '-f', '{{.State.ExitCode}}', id]).out, '4\n');
    assert.ok(!existsSync(`/proc/${pid}`));
    assert.equal(d.docker(['rm', id]).code, 0);
  });

  test('one daemon per data root; a start finishes the volume work a crash cut short', async () => {
    const second = spawnSync(join(BERTH, '..', 'berthd'), ['--data-root', d.dataRoot, '--exec-root', `${d.execRoot}-2`, '-H', `unix://${d.sock}-2`], { encoding: 'utf8', timeout: 30000 });
    assert.equal(second.status, 1);
    assert.match(second.stderr, /another berthd uses the data root/);
    assert.ok(!existsSync(`${d.sock}-2`));
    rmSync(`${d.execRoot}-2`, { recursive: true, force: true });
    // what a crash leaves: a volume directory without its record, and a copy-up that did not finish
    assert.equal(d.docker(['volume', 'create', 'halfcopied']).code, 0);
    await d.crash();
    const vols = join(d.dataRoot, 'volumes');
    mkdirSync(join(vols, 'norecord', '_data'), { recursive: true });
    const rec = join(vols, 'halfcopied', 'volume.json');
    writeFileSync(rec, JSON.stringify({ ...JSON.parse(readFileSync(rec, 'utf8')), CopyingUp: true }));
    writeFileSync(join(vols, 'halfcopied', '_data', 'partial'), 'cut short');
    // and removals whose background deletion it cut short (a container's directory, a snapshot)
    const trashes = [join(d.dataRoot, 'trash'), join(d.dataRoot, 'image', 'snapshots', 'trash')];
    for (const t of trashes) mkdirSync(join(t, 'x.1.1', 'rootfs', 'f'), { recursive: true });
    await d.start();
    assert.ok(!existsSync(join(vols, 'norecord')));
    for (const t of trashes) assert.deepEqual(readdirSync(t), [], `${t} is cleared at start`);
    assert.equal(d.docker(['volume', 'ls', '-q']).out, 'halfcopied\n');
    // the next use copies the image's content again, into an empty volume
    assert.equal(d.docker(['run', '--rm', '-v', 'halfcopied:/etc', IMG, 'ls', '/etc/partial', '/etc/shared.txt']).err, 'ls: /etc/partial: No such file or directory\n');
    assert.equal(d.docker(['volume', 'rm', 'halfcopied']).code, 0);
  });

  test('bad input gets docker\'s error shape and status, and the daemon keeps serving', async () => {
    const malformed = await d.api('POST', '/v1.47/containers/create', '{"Image":');
    assert.equal(malformed.status, 400);
    assert.match(malformed.json.message, /invalid JSON/);
    const noImage = await d.api('POST', '/v1.47/containers/create', JSON.stringify({ Image: 'no/such:image' }));
    assert.equal(noImage.status, 404);
    assert.match(noImage.json.message, /No such image/i);
    const badRef = await d.api('POST', '/v1.47/containers/create', JSON.stringify({ Image: 'UPPER/Case::x' }));
    assert.equal(badRef.status, 400);
    const wrongType = await d.api('POST', '/v1.47/containers/create', JSON.stringify({ Image: IMG, Env: 'A=1' }));
    assert.equal(wrongType.status, 400);
    assert.match(wrongType.json.message, /Env/);
    const badMem = await d.api('POST', '/v1.47/containers/create', JSON.stringify({ Image: IMG, HostConfig: { Memory: 'lots' } }));
    assert.equal(badMem.status, 400);
    assert.match(badMem.json.message, /HostConfig\.Memory/);
    assert.equal((await d.api('GET', '/v1.47/containers/nope/json')).status, 404);
    const c1 = await d.api('POST', '/v1.47/containers/create?name=dup', JSON.stringify({ Image: IMG, Cmd: ['sleep', '30'] }));
    assert.equal(c1.status, 201);
    const c2 = await d.api('POST', '/v1.47/containers/create?name=dup', JSON.stringify({ Image: IMG }));
    assert.equal(c2.status, 409);
    assert.match(c2.json.message, /already in use/);
    assert.equal((await d.api('POST', `/v1.47/containers/${c1.json.Id}/start`)).status, 204);
    const rmRunning = await d.api('DELETE', `/v1.47/containers/${c1.json.Id}`);
    assert.equal(rmRunning.status, 409);
    assert.match(rmRunning.json.message, /running/);
    const big = await d.api('POST', '/v1.47/containers/create', Buffer.alloc(17 * 1024 * 1024, 0x20));
    assert.equal(big.status, 413);
    const badCmd = await d.api('POST', '/v1.47/containers/create', JSON.stringify({ Image: IMG, Cmd: ['/no/such/program'] }));
    const start = await d.api('POST', `/v1.47/containers/${badCmd.json.Id}/start`);
    assert.equal(start.status, 500);
    assert.match(start.json.message, /no\/such\/program/);
    assert.equal((await d.api('DELETE', `/v1.47/containers/${c1.json.Id}?force=1`)).status, 204);
    assert.equal((await d.api('DELETE', `/v1.47/containers/${badCmd.json.Id}`)).status, 204);
    assert.equal((await d.api('GET', '/_ping')).text, 'OK');
  });

  test('stats: CPU % over a second, memory and pids through both CLIs; berth stats streams until the container stops', async () => {
    const id = d.docker(['run', '-d', '-m', '32m', IMG, 'sh', '-c', 'while :; do :; done']).out.trim();
    for (const [name, cli] of [['docker', d.docker.bind(d)], ['berth', d.berth.bind(d)]] as const) {
      const out = cli(['stats', '--no-stream', id]);
      assert.equal(out.code, 0, out.err);
      const [head, row] = out.out.split('\n');
      assert.match(head!, /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/);
      const cpu = parseFloat(row!.split(/\s+/)[2]!);
      assert.ok(cpu > 20, `${name}: a spinning container uses ${cpu}% CPU`);
      assert.match(row!, /\/ 32MiB/);
    }
    const args = ['--data-root', d.dataRoot, '-H', `unix://${d.sock}`, 'stats', id];
    const streaming = spawn(BERTH, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    streaming.stdout.on('data', (x: Buffer) => { text += x; });
    await sleep(2600);
    assert.equal(d.docker(['stop', '-t', '0', id]).code, 0);
    const code = await new Promise((r) => streaming.once('exit', r));
    assert.equal(code, 0);
    assert.ok(text.split('CONTAINER ID').length - 1 >= 2, `tables printed: ${text}`);
    assert.equal(d.docker(['rm', id]).code, 0);
  });

  test('events: live, and past ones with --since/--until, through both CLIs and filters', async () => {
    const since = String(Math.floor(Date.now() / 1000) - 1);
    const live = spawn(dockerBin, ['events', '--filter', 'container=evt', '--format', '{{.Action}}'], { env: d.env(), stdio: ['ignore', 'pipe', 'ignore'] });
    let seen = '';
    live.stdout.on('data', (x: Buffer) => { seen += x; });
    await sleep(500);
    assert.equal(d.docker(['run', '--name', 'evt', IMG, 'true']).code, 0);
    for (let i = 0; i < 40 && !seen.includes('die'); i++) await sleep(50);
    live.kill();
    const order = (lines: string[]) => lines.filter((a) => ['create', 'start', 'die'].includes(a));
    assert.deepEqual(order(seen.trim().split('\n')), ['create', 'start', 'die']);
    // the past: replayed, and the answer ends at --until (the docker CLI sends "0s" as whole seconds: wait for the next one)
    await sleep(1050 - (Date.now() % 1000));
    const past = d.docker(['events', '--since', since, '--until', '0s', '--filter', 'container=evt', '--format', '{{.Action}}']);
    assert.equal(past.code, 0, past.err);
    assert.deepEqual(order(past.out.trim().split('\n')), ['create', 'start', 'die']);
    const mine = d.berth(['events', '--since', '1m', '--until', '0s', '--filter', 'container=evt', '--filter', 'event=die']);
    assert.equal(mine.code, 0, mine.err);
    assert.match(mine.out, /^\S+ container die [0-9a-f]{64} \(.*name=evt.*\)\n$/);
    // volumes and images have theirs
    assert.equal(d.docker(['volume', 'create', 'evvol']).code, 0);
    assert.equal(d.docker(['run', '--rm', '-v', 'evvol:/data:ro', IMG, 'true']).code, 0);
    assert.equal(d.docker(['volume', 'rm', 'evvol']).code, 0);
    assert.equal(d.docker(['tag', IMG, 'evimg:1']).code, 0);
    assert.equal(d.docker(['rmi', 'evimg:1']).code, 0);
    // the berth CLI changes the store itself, and tells berthd for its events
    assert.equal(d.berth(['tag', IMG, 'evimg:2']).code, 0);
    assert.equal(d.berth(['rmi', 'evimg:2']).code, 0);
    const imp = d.docker(['import', join(work, 'rootfs.tar'), 'evimp:1']);
    assert.equal(imp.code, 0, imp.err);
    // evt's image shares evimp's layer: only the image a container was made from is refused, as docker refuses it
    const rmi = d.docker(['rmi', 'evimp:1']);
    assert.equal(rmi.code, 0, rmi.err);
    await sleep(1050 - (Date.now() % 1000));
    const others = d.docker(['events', '--since', since, '--until', '0s', '--filter', 'type=volume', '--filter', 'type=image', '--format', '{{.Type}} {{.Action}} {{.Actor.ID}} {{index .Actor.Attributes "destination"}}']);
    assert.equal(others.code, 0, others.err);
    const lines = others.out.trim().split('\n').map((l) => l.split(' '));
    assert.deepEqual(lines.map((l) => `${l[0]} ${l[1]}`), ['volume create', 'volume mount', 'volume unmount', 'volume destroy', 'image tag', 'image untag',
      'image tag', 'image untag', 'image tag', 'image import', 'image untag', 'image delete']);
    const names = d.docker(['events', '--since', since, '--until', '0s', '--filter', 'type=image', '--format', '{{.Action}} {{index .Actor.Attributes "name"}}']).out;
    assert.match(names, /^tag evimg:2\nuntag evimg:2\ntag evimp:1\nimport sha256:/m);
    // what berthd takes from the CLI is checked
    const forged = await d.api('POST', '/v1.47/berth/image-events', JSON.stringify([{ action: 'start', id: 'x', attributes: {} }]), { 'content-type': 'application/json' });
    assert.equal(forged.status, 400);
    assert.equal(forged.json.message, '[0].action: "start" is not an image event\'s action');
    assert.deepEqual(lines.slice(0, 4).map((l) => l[2]), ['evvol', 'evvol', 'evvol', 'evvol']);
    assert.equal(lines[1]![3], '/data');
    assert.match(lines[4]![2]!, /^sha256:[0-9a-f]{64}$/);
    // bad times are named
    const bad = d.berth(['events', '--since', 'yesterday']);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /--since: "yesterday" is not a time/);
    const api = await d.api('GET', '/v1.47/events?since=abc');
    assert.equal(api.status, 400);
    assert.match(api.json.message, /since: "abc" is not a unix time/);
    assert.equal(d.docker(['rm', 'evt']).code, 0);
  });

  test('docker import: a root filesystem tar from a file, stdin or a URL, with -c and -m; bad sources are named', async () => {
    const tar = join(work, 'rootfs.tar');
    const file = d.docker(['import', '-c', 'CMD ["echo", "imported"]', '-m', 'from a file', tar, 'dimp:file']);
    assert.equal(file.code, 0, file.err);
    assert.match(file.out, /^sha256:[0-9a-f]{64}\n$/);
    assert.equal(d.docker(['run', '--rm', 'dimp:file']).out, 'imported\n');
    assert.equal(d.docker(['history', '--format', '{{.Comment}}', 'dimp:file']).out, 'from a file\n');
    const piped = spawnSync(dockerBin, ['import', '-', 'dimp:stdin'], { input: readFileSync(tar), env: d.env(), encoding: 'utf8' });
    assert.equal(piped.status, 0, piped.stderr);
    assert.equal(d.docker(['history', '--format', '{{.Comment}}', 'dimp:stdin']).out, 'Imported from -\n');
    // a URL: a server of this test's, on loopback (so the docker CLI runs asynchronously here); one that fails midway
    const http = await import('node:http');
    const srv = http.createServer((req, res) => {
      if (req.url === '/rootfs.tar') res.end(readFileSync(tar));
      else if (req.url === '/cut.tar') { res.writeHead(200, { 'content-length': '10000000' }); res.write(readFileSync(tar).subarray(0, 4096)); setTimeout(() => res.destroy(), 100); }
      else { res.statusCode = 404; res.end(); }
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const dockerAsync = (args: string[]) => new Promise<{ code: number | null; err: string }>((res) => {
      const p = spawn(dockerBin, args, { env: d.env(), stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (x: Buffer) => { err += x; });
      p.on('close', (code) => res({ code, err }));
    });
    try {
      const url = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
      const got = await dockerAsync(['import', `${url}/rootfs.tar`, 'dimp:url']);
      assert.equal(got.code, 0, got.err);
      assert.equal(d.docker(['run', '--rm', 'dimp:url', 'echo', 'from a URL']).out, 'from a URL\n');
      const missing = await dockerAsync(['import', `${url}/missing.tar`, 'dimp:missing']);
      assert.equal(missing.code, 1);
      assert.match(missing.err, new RegExp(`Get "${url}/missing.tar": 404`));
      const cut = await dockerAsync(['import', `${url}/cut.tar`, 'dimp:cut']);
      assert.equal(cut.code, 1);
      assert.match(cut.err, /Error response from daemon: .+/);
      assert.equal(d.docker(['images', '-q', 'dimp:cut']).out, '');
    } finally { srv.close(); }
    const ftp = await d.api('POST', '/v1.47/images/create?fromSrc=ftp://127.0.0.1/x.tar');
    assert.equal(ftp.status, 400);
    assert.equal(ftp.json.message, 'fromSrc "ftp://127.0.0.1/x.tar" is neither - (the request body) nor an http(s) URL');
    const badName = spawnSync(dockerBin, ['import', '-', 'Bad:Name'], { input: readFileSync(tar), env: d.env(), encoding: 'utf8' });
    assert.equal(badName.status, 1);
    assert.match(badName.stderr, /Bad:Name|invalid reference format/);
    assert.equal(d.docker(['images', '-q', 'dimp']).out.trim().split('\n').length, 3);
    assert.equal(d.docker(['rmi', 'dimp:file', 'dimp:stdin', 'dimp:url']).code, 0);
  });

  test('networks as far as berth has them, and the prunes docker system prune makes', () => {
    assert.match(d.docker(['network', 'ls', '--format', '{{.Name}} {{.Driver}}']).out, /^bridge bridge\nhost host\nnone null\n$/);
    assert.equal(JSON.parse(d.docker(['network', 'inspect', 'none']).out)[0].Name, 'none');
    // berth's own network verbs print what docker's print
    for (const args of [['network', 'ls'], ['network', 'ls', '-q'], ['network', 'rm', 'none']]) {
      const mine = d.berth(args), theirs = d.docker(args);
      assert.equal(mine.out, theirs.out, args.join(' '));
      assert.equal(mine.err.split('\n')[0], theirs.err.split('\n')[0], args.join(' '));
    }
    assert.match(d.docker(['network', 'connect', 'none', 'nosuchctr']).err, /No such container: nosuchctr/);
    // a network of the berth CLI's making is one the docker CLI sees, and prunes
    const create = d.berth(['network', 'create', '--subnet', '10.240.0.0/24', '--label', 'made=berth', 'mine']);
    assert.equal(create.code, 0, create.err);
    assert.equal(d.docker(['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{.Labels.made}}', 'mine']).out, '10.240.0.0/24 10.240.0.1 berth\n');
    // a dangling image: a second commit takes the first one's name
    const id = d.docker(['create', IMG, 'true']).out.trim();
    const first = d.docker(['commit', id, 'prunable:1']).out.trim();
    d.docker(['commit', '-c', 'ENV X=1', id, 'prunable:1']);
    assert.match(d.docker(['images', '-q', '--filter', 'dangling=true', '--no-trunc']).out, new RegExp(first));
    const pruned = d.docker(['image', 'prune', '-f']);
    assert.equal(pruned.code, 0, pruned.err);
    assert.match(pruned.out, new RegExp(`deleted: ${first}`));
    assert.match(pruned.out, /Total reclaimed space: /);
    const since = (Date.now() / 1000).toFixed(3);
    const sys = d.docker(['system', 'prune', '-f']);
    assert.equal(sys.code, 0, sys.err);
    assert.match(sys.out, new RegExp(`Deleted Containers:\n${id}\n`));
    assert.equal(d.docker(['volume', 'prune', '-f']).code, 0);
    // each prune says what it reclaimed, as docker's does
    const pruneEvents = d.docker(['events', '--since', since, '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'event=prune', '--format', '{{.Type}} {{index .Actor.Attributes "reclaimed"}}']);
    assert.equal(pruneEvents.code, 0, pruneEvents.err);
    assert.deepEqual(pruneEvents.out.trim().split('\n').map((l) => l.split(' ')[0]).sort(), ['container', 'image', 'network', 'volume']);
    assert.ok(pruneEvents.out.trim().split('\n').every((l) => /^\w+ \d+$/.test(l)), pruneEvents.out);
    assert.equal(d.docker(['rmi', 'prunable:1']).code, 0);
  });

  test('system df and ps -s count images, writable layers and volumes', async () => {
    const id = d.docker(['run', '-d', '-v', 'dfvol:/data', IMG, 'sh', '-c', 'dd if=/dev/zero of=/big bs=1M count=3 2>/dev/null; dd if=/dev/zero of=/data/v bs=1M count=2 2>/dev/null; touch /done; sleep 60']).out.trim();
    for (let i = 0; i < 100 && d.docker(['exec', id, 'test', '-e', '/done']).code !== 0; i++) await sleep(50);
    const df = (await d.api('GET', '/v1.47/system/df')).json;
    const c = df.Containers.find((x: { Id: string }) => x.Id === id);
    assert.ok(c.SizeRw >= 3 << 20 && c.SizeRw < 4 << 20 && c.SizeRootFs > c.SizeRw, JSON.stringify(c));
    const v = df.Volumes.find((x: { Name: string }) => x.Name === 'dfvol');
    assert.ok(v.UsageData.Size >= 2 << 20 && v.UsageData.RefCount === 1, JSON.stringify(v));
    assert.equal(df.Images.find((x: { Id: string }) => x.Id === c.ImageID).Containers, 1);
    assert.ok(df.LayersSize > 0 && Array.isArray(df.BuildCache));
    // the docker CLI's own tables
    const table = d.docker(['system', 'df']);
    assert.equal(table.code, 0, table.err);
    assert.match(table.out, /^Containers\s+1\s+1\s+3\.\d+MB/m);
    assert.match(table.out, /^Local Volumes\s+1\s+1\s+2\.\d+MB/m);
    assert.match(d.docker(['ps', '-s', '--format', '{{.Size}}']).out, /^3\.\d+MB \(virtual \d/);
    assert.ok(Number(d.docker(['inspect', '--size', '-f', '{{.SizeRw}}', id]).out) >= 3 << 20);
    // berth's table is docker's
    const mine = d.berth(['system', 'df']);
    assert.equal(mine.code, 0, mine.err);
    assert.equal(mine.out.split('\n').slice(0, 4).join('\n'), table.out.split('\n').slice(0, 4).join('\n'));
    assert.match(d.berth(['system', 'df', '-v']).out, /Local Volumes space usage:\n\nVOLUME NAME\s+LINKS\s+SIZE\ndfvol\s+1\s+2\.\d+MB/);
    // what prune frees is counted
    assert.equal(d.docker(['stop', '-t', '0', id]).code, 0);
    assert.match(d.docker(['container', 'prune', '-f']).out, new RegExp(`${id}\n\nTotal reclaimed space: 3\\.\\d+MB`));
    assert.match(d.docker(['volume', 'prune', '-af']).out, /dfvol\n\nTotal reclaimed space: 2\.\d+MB/);
  });

  test('50 runs in parallel all succeed and leave no mount, cgroup, shim or state behind', async () => {
    const runs = Array.from({ length: 50 }, (_, i) => new Promise<{ code: number | null; out: string }>((res) => {
      const child = spawn(existsSync('/usr/local/bin/docker') ? '/usr/local/bin/docker' : 'docker', ['run', '--rm', IMG, 'echo', `run ${i}`], { env: d.env() });
      let out = '';
      child.stdout.on('data', (x: Buffer) => { out += x; });
      child.on('close', (code: number | null) => res({ code, out }));
    }));
    const results = await Promise.all(runs);
    results.forEach((r, i) => { assert.equal(r.code, 0); assert.equal(r.out, `run ${i}\n`); });
    assert.equal(d.docker(['ps', '-aq']).out, '');
    assert.deepEqual(mountsUnder(d.dataRoot), []);
    assert.deepEqual(d.shims(), []);
    // the shims berthd started (posix_spawn, not Node's spawn) were reaped: no zombie children
    const zombies = pidsWhere((read) => { const st = statFields(read('stat')); return st[0] === 'Z' && Number(st[1]) === d.daemon!.pid; });
    assert.deepEqual(zombies, []);
    assert.deepEqual(readdirSync(join(d.execRoot, 's')), []);
    assert.deepEqual(readdirSync(join(d.dataRoot, 'containers')), []);
    // removed containers' directories and snapshots are deleted in the background, soon
    const trashes = [join(d.dataRoot, 'trash'), join(d.dataRoot, 'image', 'snapshots', 'trash'), join(d.dataRoot, 'image', 'snapshots', 'active')];
    for (let i = 0; i < 100 && trashes.some((t) => readdirSync(t).length); i++) await sleep(50);
    for (const t of trashes) assert.deepEqual(readdirSync(t), [], `${t} is empty`);
    for (const h of readdirSync('/sys/fs/cgroup')) {
      const dir = join('/sys/fs/cgroup', h, d.cgroupParent);
      if (existsSync(dir)) assert.deepEqual(readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name), [], `cgroups left in ${dir}`);
    }
  });
});
