// Files that are either wholly old or wholly new: write a temporary name,
// fsync, rename, fsync the directory. State that describes live processes
// (runtime state, pid files) is worthless after a crash of the machine, so it
// may skip the fsyncs: readers still never see a partial file. A write that
// replaces an existing file may skip the directory's fsync: a rename lost to
// a crash leaves the old version, which is still a whole one.
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export function writeFileAtomic(path: string, data: string | Buffer, opts: { mode?: number; durable?: boolean; replacing?: boolean } = {}): void {
  const durable = opts.durable ?? true;
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', opts.mode ?? 0o644);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    if (durable) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  if (!durable || opts.replacing) return;
  const dfd = openSync(dirname(path), 'r');
  try { fsyncSync(dfd); } finally { closeSync(dfd); }
}

/**
 * writeFileAtomic with the disk's waits (write, fsync, rename) in libuv's
 * threads: the daemon goes on serving while a record is made durable.
 * `replacing` is asked when the write starts. Writes to one path must not
 * overlap (they share the temporary name): the caller orders them.
 */
export async function writeFileAtomicAsync(path: string, data: string | Buffer, opts: { mode?: number; durable?: boolean; replacing?: () => boolean } = {}): Promise<void> {
  const durable = opts.durable ?? true;
  const replacing = opts.replacing?.() ?? false;
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fh = await open(tmp, 'w', opts.mode ?? 0o644);
  try {
    await fh.writeFile(data);
    if (durable) await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  if (!durable || replacing) return;
  const dh = await open(dirname(path), 'r');
  try { await dh.sync(); } finally { await dh.close(); }
}
