// The splice forwarder (native/proxy): the published TCP ports that the
// kernel's DNAT cannot serve, and, with --ports-obey-input, every published
// TCP port's outside traffic, so that it passes the host's input chain as a
// local service's does. One berth-proxy per endpoint that needs one, in a
// session of its own: it outlives berthd, as the container does, and ends
// with the container's init (it watches a pidfd).
import { closeSync, readFileSync, readSync } from 'node:fs';
import { fsx } from '../util/fsx.js';
import { pause } from '../util/lock.js';
import { nativeBuild } from '../util/project.js';
import type { EndpointRecord } from './records.js';

export interface ProxyListen { listenIp: string; listenPort: number; targetIp: string; targetPort: number }

/**
 * What the forwarder listens on for an endpoint. The kernel serves the rest:
 * IPv4 (DNAT, also from 127.0.0.1 with route_localnet) and IPv6 to a
 * container with IPv6. It cannot serve IPv6 loopback (no route_localnet for
 * IPv6) or IPv6 to a container without IPv6 (nftables has no NAT64).
 * UDP has no forwarder: those cases are not served for UDP.
 */
export function proxyPlan(e: EndpointRecord, obeyInput: boolean): ProxyListen[] {
  const v4 = e.IPv4Address.split('/')[0] ?? '', v6 = e.IPv6Address.split('/')[0] ?? '';
  const out: ProxyListen[] = [];
  const to = (listenIp: string, targetIp: string, p: { hostPort: number; containerPort: number }) => out.push({ listenIp, listenPort: p.hostPort, targetIp, targetPort: p.containerPort });
  for (const p of e.Ports) {
    if (p.proto !== 'tcp') continue;
    const six = p.hostIp.includes(':');
    if (obeyInput) to(p.hostIp || '0.0.0.0', six ? v6 || v4 : v4, p);
    else if (six && !v6) to(p.hostIp, v4, p);
    else if (six && (p.hostIp === '::' || p.hostIp === '::1')) to('::1', v6, p);
  }
  return out.filter((l) => l.targetIp);
}

export class ProxyError extends Error {}

const binary = () => nativeBuild('berth-proxy');

/** Starts the forwarder for `plan`, serving until the process `watchPid` ends; its pid once it listens. */
export function startProxy(watchPid: number, plan: ProxyListen[]): number {
  const f = fsx(), bin = binary();
  const args = plan.flatMap((l) => [l.listenIp, String(l.listenPort), l.targetIp, String(l.targetPort)]);
  const [r, w] = f.pipe();
  let pid: number;
  try { pid = f.spawn(bin, [bin, String(watchPid), ...args], [-1, w, -1]); } catch (e) { closeSync(r); throw e; } finally { closeSync(w); }
  // it says "ready" once every listener is bound (a few syscalls), or why one was not, and exits
  let said = '';
  const buf = Buffer.alloc(512);
  try {
    for (let n; !said.includes('\n') && (n = readSync(r, buf)) > 0;) said += buf.toString('utf8', 0, n);
  } finally { closeSync(r); }
  if (said.trim() === 'ready') return pid;
  waitReaped(pid);
  throw new ProxyError(said.trim() || 'berth-proxy ended without a word');
}

/** Ends a forwarder (the container's went on): only a process that is one, as a pid may have been reused. */
export function stopProxy(pid: number | undefined): void {
  if (!pid || !isProxy(pid)) return;
  try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
}

/** Whether a forwarder runs as `pid` (not one that has ended and waits to be collected). */
export function proxyRuns(pid: number | undefined): boolean {
  try { return !!pid && isProxy(pid) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '); } catch { return false; }
}

const isProxy = (pid: number): boolean => { try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith(`${binary()}\0`); } catch { return false; } };

/** Collects ended forwarders that are berthd's children (not those a previous berthd started); true when `pid` is gone. */
export function reapProxy(pid: number): boolean {
  try { return fsx().reap(pid); } catch { return true; }
}

function waitReaped(pid: number): void {
  for (let i = 0; i < 1000 && !reapProxy(pid); i++) pause(1);
}
