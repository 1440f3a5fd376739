// berth's image verbs, with docker's names, flags and output shapes:
// pull, push, images, tag, rmi, image inspect/ls/rm/prune/history, system df, login, logout.
import type { Command } from 'commander';
import { type ImageStore, type ImageRecord, parsePlatform, pull, PROGRESS_WORDS, type ProgressEvent, push, importRootfs, load, loadedLines, save, familiarName, formatReference, parseReference, pulledName, pullTag, shortReference, importedEvents, loadedEvents, prunedEvents, pulledEvents, pushedEvents, removedEvents, savedEvents, taggedEvents, type ImageEvent, imageHistory, imageSize, inspectImage, listImages, saveCredentials, getCredentials, RegistryClient, type Reference } from '../image/index.js';
import { type ApiClient, DaemonError, jsonLines } from './client.js';
import { createReadStream, createWriteStream, renameSync, rmSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { InvalidInput } from '../util/check.js';
import { formatGo, formatList, table, units } from './format.js';
import { ageOf } from '../util/duration.js';

const ago = (iso: string | undefined): string => (iso ? `${ageOf(iso)} ago` : 'N/A');

/** docker's pull output: in-place bars on a terminal, one line per change otherwise. */
function progressPrinter(): (e: ProgressEvent) => void {
  const tty = process.stdout.isTTY;
  const order: string[] = [];
  const lines = new Map<string, string>();
  const bar = (b: number, s: number) => {
    const w = 50, n = s > 0 ? Math.min(w, Math.floor((b / s) * w)) : 0;
    return `[${'='.repeat(Math.max(0, n - 1))}${n ? '>' : ''}${' '.repeat(w - n)}] ${units(b)}/${units(s)}`;
  };
  const redraw = () => {
    if (order.length > 1) process.stdout.write(`\x1b[${order.length - 1}A\r`);
    else process.stdout.write('\r');
    process.stdout.write(order.map((id) => `\x1b[2K${id}: ${lines.get(id)}`).join('\n'));
  };
  return (e) => {
    const text = e.status === 'downloading' ? `${PROGRESS_WORDS.downloading} ${bar(e.bytes, e.size)}` : PROGRESS_WORDS[e.status];
    if (!tty) {
      if (e.status !== 'downloading') process.stdout.write(`${e.layer}: ${text}\n`);
      return;
    }
    if (!lines.has(e.layer)) { if (order.length) process.stdout.write('\n'); order.push(e.layer); }
    lines.set(e.layer, text);
    redraw();
  };
}

/** What the daemon's pull stream says (docker's JSON messages). */
interface PullMessage { status?: string; id?: string; error?: string; progressDetail?: { current?: number; total?: number } }
const STATUS_OF = new Map(Object.entries(PROGRESS_WORDS).map(([status, words]) => [words, status as ProgressEvent['status']]));

/**
 * The pull done by the daemon that serves the store, as docker's CLI has
 * dockerd pull: that process has pulled before, so its code is compiled
 * and warm. Its progress is drawn here; the credentials go as docker's
 * X-Registry-Auth; the daemon's registry settings apply.
 */
async function pullThrough(api: ApiClient, ref: Reference, platform: string | undefined, progress?: (e: ProgressEvent) => void): Promise<{ digest: string; downloaded: boolean }> {
  const q = new URLSearchParams({ fromImage: `${ref.registry}/${ref.repository}`, tag: ref.digest ?? ref.tag ?? 'latest' });
  if (platform) q.set('platform', platform);
  const creds = getCredentials(ref.registry);
  const auth: Record<string, string> = creds ? { 'x-registry-auth': Buffer.from(JSON.stringify({ ...creds, serveraddress: ref.registry })).toString('base64url') } : {};
  const res = await api.stream('POST', `/images/create?${q}`, undefined, auth);
  let digest = '', downloaded = false;
  for await (const m of jsonLines<PullMessage>(res)) {
    if (m.error !== undefined) throw new DaemonError(500, m.error);
    const st = m.status ?? '';
    if (st.startsWith('Digest: ')) digest = st.slice(8);
    else if (st.startsWith('Status: ')) downloaded = st.startsWith('Status: Downloaded');
    else if (progress && m.id && STATUS_OF.has(st)) {
      const status = STATUS_OF.get(st)!, size = m.progressDetail?.total ?? 0;
      progress(status === 'downloading' ? { layer: m.id, status, bytes: m.progressDetail?.current ?? 0, size } : { layer: m.id, status, size });
    }
  }
  if (!digest) throw new Error('the daemon\'s pull ended without its digest');
  return { digest, downloaded };
}

export function registerImageCommands(program: Command, store: () => ImageStore, tell: (evs: ImageEvent[]) => Promise<void>, daemon: () => Promise<ApiClient | undefined>): void {
  const image = program.command('image').description('manage images');
  registerRegistryCommands(program, store, tell, daemon);
  registerArchiveCommands(program, image, store, tell);
  registerLocalImageCommands(program, image, store, tell);
}

/** pull, push, login, logout: the verbs that talk to registries. */
function registerRegistryCommands(program: Command, store: () => ImageStore, tell: (evs: ImageEvent[]) => Promise<void>, daemon: () => Promise<ApiClient | undefined>): void {
  const insecure = () => (process.env.BERTH_INSECURE_REGISTRIES ?? '').split(',').filter(Boolean);
  const mirrors = () => (process.env.BERTH_REGISTRY_MIRRORS ?? '').split(',').filter(Boolean);
  program.command('pull <image>').description('download an image from a registry')
    .option('--platform <os/arch[/variant]>', 'which image of a multi-platform index')
    .option('-q, --quiet', 'print only the image name')
    .action(async (image: string, o: { platform?: string; quiet?: boolean }) => {
      const ref = parseReference(image);
      const tagged = pullTag(ref);
      if (!o.quiet) process.stdout.write(`${tagged ? `${tagged}: ` : ''}Pulling from ${familiarName(ref)}\n`);
      const printer = o.quiet ? undefined : progressPrinter();
      // a berthd serving the store pulls (and tells its events); without one, this process does
      const api = await daemon();
      const r = api ? await pullThrough(api, ref, o.platform, printer)
        : await pull(store(), image, { platform: o.platform, progress: printer, insecure: insecure(), mirrors: mirrors() });
      if (!api) await tell(pulledEvents(pulledName(ref)));
      if (!o.quiet) {
        if (process.stdout.isTTY) process.stdout.write('\n');
        process.stdout.write(`Digest: ${r.digest}\nStatus: ${r.downloaded ? 'Downloaded newer image' : 'Image is up to date'} for ${pulledName(ref)}\n`);
      }
      process.stdout.write(`${ref.registry}/${ref.repository}${tagged ? `:${tagged}` : `@${ref.digest}`}\n`);
    });

  program.command('push <image>').description('upload an image to a registry')
    .option('-q, --quiet', 'print only the digest line')
    .action(async (image: string, o: { quiet?: boolean }) => {
      const ref = parseReference(image);
      if (!o.quiet) process.stdout.write(`The push refers to repository [${ref.registry}/${ref.repository}]\n`);
      const chunk = Number(process.env.BERTH_PUSH_CHUNK_SIZE ?? 0);
      const r = await push(store(), image, {
        insecure: insecure(), chunkSize: chunk > 0 ? chunk : undefined,
        progress: o.quiet ? undefined : (layer, status, from) => {
          const text = { pushing: 'Preparing', exists: 'Layer already exists', mounted: `Mounted from ${from}`, uploaded: 'Pushed' }[status];
          if (status !== 'pushing') process.stdout.write(`${layer}: ${text}\n`);
        },
      });
      process.stdout.write(`${r.tag}: digest: ${r.digest} size: ${r.size}\n`);
      await tell(pushedEvents(formatReference({ ...ref, tag: ref.tag ?? 'latest' })));
    });

  program.command('login [server]').description('store credentials for a registry (docker config.json)')
    .requiredOption('-u, --username <name>', 'user').option('-p, --password <password>', 'password').option('--password-stdin', 'read the password from stdin')
    .action(async (server: string | undefined, o: { username: string; password?: string; passwordStdin?: boolean }) => {
      const registry = server ?? 'docker.io';
      let password = o.password;
      if (o.passwordStdin) { const parts: Buffer[] = []; for await (const c of process.stdin) parts.push(c as Buffer); password = Buffer.concat(parts).toString().replace(/\r?\n$/, ''); }
      if (!password) throw new InvalidInput('--password', 'give --password or --password-stdin');
      const creds = { username: o.username, password };
      const c = new RegistryClient(registry, { credentials: creds, insecure: insecure() });
      await c.request('GET', '/v2/', { scope: '' });
      saveCredentials(registry, creds);
      process.stdout.write('Login Succeeded\n');
    });
  program.command('logout [server]').description('remove stored credentials').action((server: string | undefined) => {
    const registry = server ?? 'docker.io';
    const had = saveCredentials(registry, undefined);
    process.stdout.write(had ? `Removing login credentials for ${registry}\n` : `Not logged in to ${registry}\n`);
  });
}

/** save, load, import (as `berth VERB` and `berth image VERB`). */
function registerArchiveCommands(program: Command, image: Command, store: () => ImageStore, tell: (evs: ImageEvent[]) => Promise<void>): void {
  const saveCmd = async (images: string[], o: { output?: string }) => {
    if (!o.output && process.stdout.isTTY) throw new InvalidInput('save', 'refusing to write a tar to a terminal: use -o FILE or a pipe');
    const ids = images.map((n) => store().resolve(n).id);
    if (!o.output) await save(store(), images, process.stdout);
    else {
      const tmp = `${o.output}.${process.pid}.tmp`; // a failed save leaves no half archive
      try {
        await save(store(), images, createWriteStream(tmp));
        renameSync(tmp, o.output);
      } finally {
        rmSync(tmp, { force: true });
      }
    }
    await tell(savedEvents(ids, images));
  };
  const loadCmd = async (o: { input?: string; quiet?: boolean }) => {
    const src = o.input ? createReadStream(o.input) : process.stdin;
    // worded as berthd's load (the store answers for the daemon here)
    const images = await load(store(), src).catch((e: Error) => { throw new DaemonError(500, `Error processing tar file: ${e.message}`); });
    for (const l of loadedLines(images)) process.stdout.write(`${l}\n`);
    await tell(loadedEvents(images));
  };
  const importCmd = async (file: string, ref: string | undefined, o: { change?: string[]; message?: string; platform?: string }) => {
    const src = file === '-' ? process.stdin : createReadStream(file);
    const img = await importRootfs(store(), src.pipe(new PassThrough()), { name: ref, changes: o.change, message: o.message, platform: parsePlatform(o.platform) });
    process.stdout.write(`${img.id}\n`);
    await tell(importedEvents(img));
  };
  const collectOpt = (v: string, p: string[] = []) => [...p, v];
  for (const c of [program.command('save <image...>'), image.command('save <image...>')]) c.description('write images to a tar archive (docker save format and OCI layout)').option('-o, --output <file>', 'write to a file instead of stdout').action(saveCmd);
  for (const c of [program.command('load'), image.command('load')]) c.description('load images from a tar archive (docker save or OCI layout)').option('-i, --input <file>', 'read from a file instead of stdin').option('-q, --quiet', 'less output').action(loadCmd);
  for (const c of [program.command('import <file> [reference]'), image.command('import <file> [reference]')]) {
    c.description('make an image from a root filesystem tar (- for stdin)').option('-c, --change <instruction>', 'apply a Dockerfile instruction (CMD, ENV, ...)', collectOpt)
      .option('-m, --message <text>', 'history comment').option('--platform <os/arch>', 'platform of the image').action(importCmd);
  }
}

/** images (image ls), rmi (image rm), tag, image inspect, history, image prune. */
function registerLocalImageCommands(program: Command, image: Command, store: () => ImageStore, tell: (evs: ImageEvent[]) => Promise<void>): void {
  const ls = (o: { quiet?: boolean; digests?: boolean; noTrunc?: boolean; filter?: string[]; all?: boolean; format?: string }, repo?: string) => {
    const s = store();
    const filters: Record<string, string[]> = {};
    for (const f of o.filter ?? []) (filters[f.slice(0, f.indexOf('='))] ??= []).push(f.slice(f.indexOf('=') + 1));
    let images = listImages(s, filters, '--filter');
    if (repo) { const r = parseReference(repo); images = images.filter((i) => i.names.some((n) => n.startsWith(`${r.registry}/${r.repository}:`) && (!r.tag || n.endsWith(`:${r.tag}`)))); }
    const id = (i: ImageRecord) => (o.noTrunc ? i.id : i.id.slice(7, 19));
    if (o.quiet) { process.stdout.write([...new Set(images.map(id))].map((x) => `${x}\n`).join('')); return; }
    const rows = [['REPOSITORY', 'TAG', ...(o.digests ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE']];
    const fields: Record<string, string>[] = [];
    for (const i of images) {
      const cfg = s.config(i);
      const size = imageSize(s, i);
      const names = i.names.length ? i.names : ['<none>:<none>'];
      for (const n of names) {
        const r = n === '<none>:<none>' ? undefined : parseReference(n);
        const digest = i.repoDigests.find((d) => r && d.startsWith(`${r.registry}/${r.repository}@`))?.split('@')[1] ?? '<none>';
        const [repository, tag] = [r ? familiarName(r) : '<none>', r?.tag ?? '<none>'];
        // docker's --format fields for images
        if (o.format) fields.push({ Repository: repository, Tag: tag, Digest: digest, ID: id(i), CreatedSince: ago(cfg.created), CreatedAt: cfg.created ?? '', Size: units(size) });
        else rows.push([repository, tag, ...(o.digests ? [digest] : []), id(i), ago(cfg.created), units(size)]);
      }
    }
    process.stdout.write(o.format ? formatList(o.format, fields, { ID: 'IMAGE ID', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT' }) : table(rows));
  };
  const lsOptions = (c: Command) => c
    .option('-q, --quiet', 'only image IDs')
    .option('--digests', 'show digests')
    .option('--no-trunc', 'full image IDs')
    .option('-a, --all', 'all images (accepted; berth keeps no intermediate images)')
    .option('--format <template>', 'Go-template-like fields: {{.Repository}}, {{.Tag}}, {{.ID}}, {{.Digest}}, {{.CreatedSince}}, {{.CreatedAt}}, {{.Size}}')
    .option('-f, --filter <filter>', 'dangling=true|false, reference=PATTERN, label=KEY[=VALUE], before=IMAGE, since=IMAGE', (v: string, p: string[] = []) => [...p, v]);
  lsOptions(program.command('images [repository]').description('list images')).action((repo: string | undefined, o) => ls({ ...o, noTrunc: o.trunc === false }, repo));

  lsOptions(image.command('ls [repository]').alias('list').description('list images')).action((repo: string | undefined, o) => ls({ ...o, noTrunc: o.trunc === false }, repo));

  const rmi = async (images: string[], o: { force?: boolean }) => {
    let failed = false;
    for (const ref of images) {
      try {
        const r = store().remove(ref, { force: o.force });
        for (const u of r.untagged) process.stdout.write(`Untagged: ${shortReference(u)}\n`);
        for (const d of r.deleted) process.stdout.write(`Deleted: ${d}\n`);
        await tell(removedEvents(r));
      } catch (e) {
        failed = true;
        process.stderr.write(`Error response from daemon: ${(e as Error).message}\n`);
      }
    }
    if (failed) process.exitCode = 1;
  };
  program.command('rmi <image...>').description('remove images').option('-f, --force', 'also images that are in use or have several names').action(rmi);
  image.command('rm <image...>').alias('remove').description('remove images').option('-f, --force', 'also images in use').action(rmi);

  const tag = async (src: string, dst: string) => {
    store().tag(src, dst);
    await tell(taggedEvents(store().resolve(dst).id, dst));
  };
  for (const c of [program.command('tag <source> <target>'), image.command('tag <source> <target>')]) c.description('give an image another name').action(tag);

  const inspect = (refs: string[], o: { format?: string }) => {
    const s = store();
    const out = refs.map((r) => inspectImage(s, s.resolve(r)));
    if (o.format === undefined) process.stdout.write(`${JSON.stringify(out, null, 4)}\n`);
    else for (const x of out) process.stdout.write(`${formatGo(o.format, x)}\n`);
  };
  image.command('inspect <image...>').description('image details as JSON').option('-f, --format <template>', 'Go-template-like field path, e.g. {{.Id}} or {{json .Config}}').action(inspect);

  for (const c of [program.command('history <image>'), image.command('history <image>')]) c.description('the layers an image was made of')
    .option('-q, --quiet', 'only IDs').option('--no-trunc', 'do not truncate').option('--format <tpl>', 'Go-template-like format ({{.ID}}, {{.CreatedBy}}, {{.Size}}, ...)')
    .action((ref: string, o: { quiet?: boolean; trunc?: boolean; format?: string }) => {
      const s = store();
      const img = s.resolve(ref);
      const fields = imageHistory(s, img).map((h, i) => {
        const by = h.createdBy;
        return { ID: i === 0 ? img.id.slice(7, 19) : '<missing>', CreatedSince: ago(h.created), CreatedAt: h.created ?? '', CreatedBy: o.trunc === false ? by : by.length > 45 ? `${by.slice(0, 44)}…` : by, Size: units(h.size), Comment: h.comment };
      });
      if (o.quiet) process.stdout.write(`${img.id.slice(7, 19)}\n`);
      else if (o.format) process.stdout.write(formatList(o.format, fields, { ID: 'IMAGE', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY' }));
      else process.stdout.write(table([['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'], ...fields.map((f) => [f.ID, f.CreatedSince, f.CreatedBy, f.Size, f.Comment])]));
    });

  image.command('prune').description('remove unused images')
    .option('-a, --all', 'all images no container uses, not only unnamed ones')
    .option('-f, --force', 'do not ask (berth never asks)')
    .action(async (o: { all?: boolean }) => {
      const r = store().prune({ all: o.all });
      await tell(prunedEvents(r));
      const lines = [...r.untagged.map((u) => `untagged: ${shortReference(u.name)}\n`), ...r.deleted.map((d) => `deleted: ${d}\n`)];
      if (lines.length) process.stdout.write(`Deleted Images:\n${lines.join('')}\n`);
      process.stdout.write(`Total reclaimed space: ${units(r.reclaimed)}\n`);
    });
}

