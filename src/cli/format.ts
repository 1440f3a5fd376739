// Output formats the CLI verbs share.

/** The small part of Go templates people use with --format: {{.A.B}} and {{json .A}}. */
export function formatGo(tpl: string, v: unknown): string {
  return tpl.replace(/\{\{\s*(json\s+)?\.([\w.]*)\s*\}\}/g, (_, json: string | undefined, path: string) => {
    let x: unknown = v;
    for (const k of path.split('.').filter(Boolean)) x = (x as Record<string, unknown> | undefined)?.[k];
    return json ? JSON.stringify(x) : x === undefined || x === null ? '<no value>' : typeof x === 'object' ? JSON.stringify(x) : String(x);
  });
}
