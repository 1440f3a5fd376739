// node:child_process for the bundles (esbuild --alias): loaded on first use.
// commander requires it as it loads, for executable subcommands berth never
// has, and compiling it (with dgram) cost each CLI start ~5 ms.
let loaded;
for (const name of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork', 'ChildProcess']) {
  Object.defineProperty(exports, name, { enumerable: true, get: () => (loaded ??= process.getBuiltinModule('node:child_process'))[name] });
}
