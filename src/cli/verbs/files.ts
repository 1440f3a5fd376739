// A container's files: export, diff, commit, cp.
import { Command } from 'commander';
import { createWriteStream, renameSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Response } from '../http1.js';
import { InvalidInput } from '../../util/check.js';
import type { ApiClient } from '../client.js';
import { containerPath, copyIn, copyOut } from '../copy.js';
import { collect } from './shared.js';

export function registerFiles(parent: Command, api: () => ApiClient): void {
  const toStdoutOrFile = async (res: Response, file?: string) => {
    if (!file && process.stdout.isTTY) throw new InvalidInput('output', 'refusing to write a tar to a terminal: use -o FILE or a pipe');
    if (!file) {
      // a reader that stops early (| head) is not an error
      try { await pipeline(res, process.stdout); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EPIPE') throw e; }
      return;
    }
    const tmp = `${file}.${process.pid}.tmp`; // no half-written archive under the real name
    await pipeline(res, createWriteStream(tmp));
    renameSync(tmp, file);
  };
  parent.command('export').argument('<container>').description('the container\'s filesystem as a tar').option('-o, --output <file>', 'write to a file')
    .action(async (id: string, o: { output?: string }) => { await toStdoutOrFile(await api().stream('GET', `/containers/${id}/export`), o.output); });
  parent.command('diff').argument('<container>').description('files the container changed')
    .action(async (id: string) => {
      const ch = await api().call<{ Path: string; Kind: number }[]>('GET', `/containers/${id}/changes`);
      process.stdout.write(ch.map((c) => `${'CAD'[c.Kind]} ${c.Path}\n`).join(''));
    });
  parent.command('commit').argument('<container>').argument('[repository[:tag]]').description('a new image from the container\'s changes')
    .option('-c, --change <instr>', 'Dockerfile instruction', collect).option('-m, --message <text>', 'commit message').option('-a, --author <name>', 'author')
    .option('-p, --pause', 'pause during commit (default)', true).option('--no-pause', 'do not pause')
    .action(async (id: string, ref: string | undefined, o: { change?: string[]; message?: string; author?: string; pause: boolean }) => {
      const i = ref ? ref.lastIndexOf(':') : -1;
      const [repo, tag] = ref ? (i > ref.lastIndexOf('/') ? [ref.slice(0, i), ref.slice(i + 1)] : [ref, '']) : ['', ''];
      const q = new URLSearchParams({ container: id, repo, tag, comment: o.message ?? '', author: o.author ?? '', pause: o.pause ? '1' : '0' });
      for (const c of o.change ?? []) q.append('changes', c);
      process.stdout.write(`${(await api().call<{ Id: string }>('POST', `/commit?${q}`, {})).Id}\n`);
    });
  parent.command('cp').argument('<src>').argument('<dest>')
    .description('copy files between a container and the host: CONTAINER:SRC DEST | SRC CONTAINER:DEST ("-" for a tar stream)')
    .option('-a, --archive', 'keep uid/gid (host side)').option('-L, --follow-link', 'follow a symbolic link in SRC')
    .action(async (src: string, dest: string, o: { archive?: boolean; followLink?: boolean }) => {
      const from = containerPath(src), to = containerPath(dest);
      if (from && to) throw new InvalidInput('cp', 'copying between two containers is not supported: copy through the host');
      if (!from && !to) throw new InvalidInput('cp', `one of the paths must be CONTAINER:PATH (got ${src} and ${dest})`);
      if (from && dest === '-') await toStdoutOrFile(await api().stream('GET', `/containers/${from.id}/archive?path=${encodeURIComponent(from.path)}`));
      else if (to && src === '-') await api().upload('PUT', `/containers/${to.id}/archive?path=${encodeURIComponent(to.path)}`, process.stdin);
      else if (from) await copyOut(api(), from.id, from.path, dest, o);
      else await copyIn(api(), src, to!.id, to!.path, o);
    });
}
