// Where this checkout (compiled or bundled) lives: build/ holds the native parts.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;
export function projectRoot(): string {
  if (root) return root;
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'binding.gyp')) && dirname(d) !== d) d = dirname(d);
  return (root = d);
}

export function nativeBuild(name: string): string {
  return join(projectRoot(), 'build', 'Release', name);
}
