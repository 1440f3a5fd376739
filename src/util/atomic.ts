// Files that are either wholly old or wholly new: write a temporary name,
// fsync, rename, fsync the directory. State that describes live processes
// (runtime state, pid files) is worthless after a crash of the machine, so it
// may skip the fsyncs: readers still never see a partial file. A write that
// replaces an existing file may skip the directory's fsync: a rename lost to
// a crash leaves the old version, which is still a whole one.
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
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
