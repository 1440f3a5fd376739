// docker's --format templates in berth's CLI (src/cli/template.ts): what
// inspect and ps templates use, printed as docker's CLI prints them; what
// cannot be parsed is refused with text/template's words.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { executeTemplate } from '../src/cli/template.js';
import { formatList } from '../src/cli/format.js';

const c = {
  Id: 'abc', Name: '/web', State: { Pid: 42, Running: true },
  NetworkSettings: { Networks: { bridge: { IPAddress: '172.17.0.2' }, front: { IPAddress: '10.0.0.5' } } },
  Config: { Env: ['A=1', 'B=2'], Labels: {} }, Mounts: [],
};

test('fields, range over maps and lists (with $k, $v :=), index, if/else if/else, with, functions and pipes, trim markers, comments', () => {
  const cases: [string, string][] = [
    ['{{.State.Pid}}', '42'], ['{{.ID}}', 'abc'], ['{{.Nope}}', '<no value>'],
    ['{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', '172.17.0.2 10.0.0.5 '],
    ['{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}};{{end}}', 'bridge=172.17.0.2;front=10.0.0.5;'],
    ['{{(index .NetworkSettings.Networks "front").IPAddress}}', '10.0.0.5'],
    ['{{index .NetworkSettings.Networks "front" | json}}', '{"IPAddress":"10.0.0.5"}'],
    ['{{json .Config.Env}}', '["A=1","B=2"]'], ['{{join .Config.Env ","}}', 'A=1,B=2'],
    ['{{if .State.Running}}up{{else}}down{{end}}', 'up'],
    ['{{if not .State.Running}}down{{else if eq .State.Pid 42}}pid42{{else}}x{{end}}', 'pid42'],
    ['{{range .Mounts}}m{{else}}none{{end}}', 'none'], ['{{with .State}}{{.Pid}}{{end}}', '42'],
    ['{{len .Config.Env}}', '2'], ['{{upper .Name}}', '/WEB'], ['{{- .Id -}}  \n', 'abc'], ['a {{/* c */}}b', 'a b'],
    ['{{printf "%s:%d" .Name .State.Pid}}', '/web:42'], ['{{range .Config.Env}}{{println .}}{{end}}', 'A=1\nB=2\n'],
    ['{{$.Id}}{{range .Config.Env}}{{$.Id}}{{end}}', 'abcabcabc'], ['{{.Config.Labels}}', '{}'], ['{{json .}}', JSON.stringify(c)],
  ];
  for (const [tpl, want] of cases) assert.equal(executeTemplate(tpl, c), want, tpl);
});

test('a template that cannot be parsed or run is refused by name', () => {
  assert.throws(() => executeTemplate('{{range .X}}', c), /unexpected EOF/);
  assert.throws(() => executeTemplate('{{end}}', c), /unexpected \{\{end\}\}/);
  assert.throws(() => executeTemplate('{{nosuch .X}}', c), /function "nosuch" not defined/);
  assert.throws(() => executeTemplate('{{.A', c), /unclosed action/);
  assert.throws(() => executeTemplate('{{$x}}', c), /undefined variable "\$x"/);
});

test('list formats: a line per item, and table with its header row', () => {
  const rows = [{ ID: 'a1', Names: 'web' }, { ID: 'b2', Names: 'db' }];
  assert.equal(formatList('{{.ID}}:{{.Names}}', rows, {}), 'a1:web\nb2:db\n');
  assert.match(formatList('table {{.ID}}\t{{.Names}}', rows, { ID: 'CONTAINER ID' }), /^CONTAINER ID\s+NAMES\na1\s+web\nb2\s+db\n$/);
});
