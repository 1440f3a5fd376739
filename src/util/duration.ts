// How long ago, in docker's words (its CLI and daemon print ages this way:
// "Up 3 minutes", "2 hours ago", "About a minute ago").

/** `seconds` as docker words a duration: "Less than a second", "About an hour", "3 weeks". */
export function humanDuration(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 1) return 'Less than a second';
  if (s < 60) return s === 1 ? '1 second' : `${s} seconds`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return m === 1 ? 'About a minute' : `${m} minutes`;
  const h = Math.floor(seconds / 3600 + 0.5); // hours are rounded, the smaller units are not
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 14) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 60) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 730) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(seconds / 3600 / 24 / 365)} years`;
}

/** The age of a time (ISO text or unix seconds) as humanDuration words. */
export const ageOf = (t: string | number): string => humanDuration(Math.max(0, (Date.now() - (typeof t === 'number' ? t * 1000 : Date.parse(t))) / 1000));

const GO_UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** A Go duration ("30s", "1m30s", "500ms") in nanoseconds; undefined when it is not one. */
export function goDurationNs(v: string): number | undefined {
  const parts = [...v.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (!parts.length || parts.map((p) => p[0]).join('') !== v) return undefined;
  return Math.round(parts.reduce((t, p) => t + Number(p[1]) * GO_UNIT_NS[p[2]!]!, 0));
}
