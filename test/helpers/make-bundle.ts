// Test bundles: a busybox rootfs made from Debian's busybox-static, and a
// config.json from berth's default spec with the test's changes.
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync, existsSync, chmodSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { defaultSpec } from '../../src/runtime/spec-default.js';

export type Spec = ReturnType<typeof defaultSpec> & Record<string, any>;

export function makeRootfs(dir: string): void {
  for (const d of ['bin', 'proc', 'sys', 'dev', 'etc', 'tmp', 'root']) mkdirSync(join(dir, d), { recursive: true });
  chmodSync(join(dir, 'tmp'), 0o1777);
  copyFileSync('/bin/busybox', join(dir, 'bin', 'busybox'));
  chmodSync(join(dir, 'bin', 'busybox'), 0o755);
  for (const a of execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n')) {
    if (a && a !== 'busybox' && !existsSync(join(dir, 'bin', a))) symlinkSync('busybox', join(dir, 'bin', a));
  }
  writeFileSync(join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  writeFileSync(join(dir, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
}

/** Writes a bundle; `change` edits the spec before it is saved. */
export function makeBundle(dir: string, args: string[], change?: (s: Spec) => void): string {
  mkdirSync(dir, { recursive: true });
  if (!existsSync(join(dir, 'rootfs', 'bin', 'busybox'))) makeRootfs(join(dir, 'rootfs'));
  const spec = defaultSpec({ args, terminal: false }) as Spec;
  spec.process.env = ['PATH=/bin', 'HOME=/root'];
  spec.root.readonly = false;
  change?.(spec);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(spec, null, 2));
  return dir;
}

if (import.meta.url === pathToFileURL(resolve(process.argv[1] ?? '')).href) {
  const [dir, ...args] = process.argv.slice(2);
  if (!dir || args.length === 0) {
    process.stderr.write('usage: make-bundle DIR COMMAND...\n');
    process.exit(2);
  }
  makeBundle(dir, args);
}
