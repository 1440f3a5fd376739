// Named volumes (the local driver): <root>/<name>/_data with its record in
// <root>/<name>/volume.json, written atomically. A volume a container uses
// cannot be removed; the first use of an empty volume copies up the image's
// content at its mount point. A crash in create, remove or a copy-up is
// finished at the next start: see recover().
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeFileAtomic } from '../util/atomic.js';
import { Conflict, InvalidInput, NotFound } from '../util/check.js';
import { removeEntries } from '../util/fsx.js';
import { closeFd, copyTree, withRootDir, type RootDir } from '../image/index.js';

export interface Volume {
  Name: string;
  Driver: 'local';
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  Scope: 'local';
  Options: Record<string, string>;
  /** true once content was copied up (or the volume was used) */
  Populated?: boolean;
  /** set while the image's content is being copied in */
  CopyingUp?: boolean;
  Anonymous?: boolean;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export class VolumeStore {
  /** `changed`: told of each volume made or removed (berthd's events). */
  constructor(readonly root: string, private readonly changed: (action: 'create' | 'destroy', v: Volume) => void = () => {}) {
    mkdirSync(root, { recursive: true, mode: 0o701 });
    this.recover();
  }

  /**
   * Finishes what a crash cut short: a directory without a record is a
   * create that did not finish or a remove that did (the record goes last in
   * one, first in the other), and a copy-up that did not finish is undone so
   * that the next use copies again.
   */
  private recover(): void {
    for (const name of readdirSync(this.root)) {
      if (!existsSync(this.file(name))) { rmSync(join(this.root, name), { recursive: true, force: true }); continue; }
      let v: Volume;
      try { v = this.get(name); } catch { continue; } // unreadable: kept for a person to look at
      if (!v.CopyingUp) continue;
      removeEntries(v.Mountpoint);
      writeFileAtomic(this.file(name), JSON.stringify({ ...v, CopyingUp: undefined }));
    }
  }

  private file(name: string) { return join(this.root, name, 'volume.json'); }

  get(name: string): Volume {
    if (!NAME_RE.test(name)) throw new NotFound('volume', `get ${name}: no such volume`);
    try { return JSON.parse(readFileSync(this.file(name), 'utf8')) as Volume; } catch { throw new NotFound('volume', `get ${name}: no such volume`); }
  }

  has(name: string): boolean { return NAME_RE.test(name) && existsSync(this.file(name)); }

  create(name: string | undefined, labels: Record<string, string> = {}, opts: { anonymous?: boolean; driver?: string } = {}): Volume {
    if (opts.driver && opts.driver !== 'local') throw new InvalidInput('Driver', `volume driver "${opts.driver}" is not available (only "local")`);
    const anonymous = !name;
    name ??= randomBytes(32).toString('hex');
    if (!NAME_RE.test(name)) throw new InvalidInput('Name', `"${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed`);
    if (this.has(name)) return this.get(name); // docker: create of an existing name returns it
    const dir = join(this.root, name);
    mkdirSync(join(dir, '_data'), { recursive: true, mode: 0o755 });
    const v: Volume = { Name: name, Driver: 'local', Mountpoint: join(dir, '_data'), CreatedAt: new Date().toISOString(), Labels: labels, Scope: 'local', Options: {}, Anonymous: anonymous || undefined };
    writeFileAtomic(this.file(name), JSON.stringify(v));
    this.changed('create', v);
    return v;
  }

  list(): Volume[] {
    return readdirSync(this.root).filter((n) => existsSync(this.file(n))).map((n) => this.get(n));
  }

  remove(name: string, inUseBy: string[]): void {
    const v = this.get(name);
    if (inUseBy.length) throw new Conflict('volume', `remove ${name}: volume is in use - [${inUseBy.join(', ')}]`);
    // the record goes first: a crash leaves a dir without record, never a record without data
    rmSync(this.file(name), { force: true });
    rmSync(join(this.root, name), { recursive: true, force: true });
    this.changed('destroy', v);
  }

  /**
   * On first use: copies what the container's root (`root`, the image's
   * files) has at `destination` into an empty volume. The destination is
   * resolved inside the root, as the container will see it: a symlink there
   * in the image never leads the copy out to the host.
   */
  async populate(name: string, root: RootDir, destination: string): Promise<void> {
    const v = this.get(name);
    if (v.Populated) return;
    const there = root.stat(destination, true);
    try {
      if (there?.st.isDirectory() && readdirSync(v.Mountpoint).length === 0) {
        writeFileAtomic(this.file(name), JSON.stringify({ ...v, CopyingUp: true }));
        try {
          await withRootDir(v.Mountpoint, (to) => copyTree(there.fd, to)); // owners, modes, links and xattrs kept, as docker's copy-up does
        } catch (e) {
          removeEntries(v.Mountpoint);
          writeFileAtomic(this.file(name), JSON.stringify(v));
          throw new Error(`copy the image's ${destination} into volume ${name}: ${(e as Error).message}`);
        }
      }
    } finally {
      if (there) closeFd(there.fd);
    }
    writeFileAtomic(this.file(name), JSON.stringify({ ...v, Populated: true, CopyingUp: undefined }));
  }

}
