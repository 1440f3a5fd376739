// docker's --log-opt for the json-file and local drivers: checked at create,
// handed to the shim at start.
import { InvalidInput } from '../util/check.js';

/** The shim's log settings for driver `type` from its options. */
export function logOptions(type: string, c: Record<string, string>): { maxSize: number; maxFile: number; format: 'json' | 'local'; compress: boolean } {
  const compress = c.compress ?? 'true';
  if (!['true', 'false'].includes(compress)) throw new InvalidInput('HostConfig.LogConfig.Config.compress', `"${compress}" must be true or false`);
  // local: docker's protobuf entries, rotated files gzipped unless compress=false
  return { ...logLimits(c), format: type === 'local' ? 'local' : 'json', compress: type === 'local' && compress === 'true' };
}

export function logLimits(c: Record<string, string>): { maxSize: number; maxFile: number } {
  const size = c['max-size'] ?? '20m';
  const m = /^(\d+)([kmg]?)b?$/i.exec(size);
  if (!m) throw new InvalidInput('HostConfig.LogConfig.Config.max-size', `"${size}" is not a size`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  const files = Number(c['max-file'] ?? '5');
  if (!Number.isInteger(files) || files < 1) throw new InvalidInput('HostConfig.LogConfig.Config.max-file', `"${c['max-file']}" must be a positive integer`);
  return { maxSize: Number(m[1]) * unit, maxFile: files };
}

