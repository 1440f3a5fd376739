// .dockerignore as docker reads it (comments and blank lines skipped), matched
// by @balena/dockerignore: the API's build and berth build's context use it.
import dockerignore from '@balena/dockerignore';

// a CommonJS module whose typings say `export default`: the function is the module itself under ESM
const ignore = ((dockerignore as unknown as { default?: unknown }).default ?? dockerignore) as unknown as (o?: { ignorecase?: boolean }) => { add(p: string[]): { ignores(path: string): boolean } };

/** Whether a context path (relative, no leading /) is left out by the rules in `text`. */
export function ignoredBy(text: string): (rel: string) => boolean {
  const ig = ignore({ ignorecase: false }).add(text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')));
  return (rel) => ig.ignores(rel);
}
