// The berth CLI for the container verbs alone (see src/cli/verbs.ts): the
// same verbs as src/cli/berth.ts, in a bundle without the image store, the
// runtime or the engine, so that a start loads less.
import { registerContainerCommands } from './containers.js';
import { apiOf, newProgram, runCli } from './program.js';

export function main(argv: string[]): Promise<number> {
  return runCli(argv, (verb) => {
    const { program, verbs } = newProgram(verb);
    registerContainerCommands(verbs, apiOf(program));
    return program;
  });
}
