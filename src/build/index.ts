// The builder's public face: what the layers above use of src/build.
export { parseDockerfile, dump, goQuote, ParseError, type Dockerfile, type Instruction, type Heredoc, type Warning, type Directive } from './parser.js';
export { expand, envOf, LexError, type EnvLookup, type Expansion, type LexOptions } from './shell-lex.js';
export { build, BuildError, missReason, type BuildEvents, type BuildImage, type BuildRequest, type CopySource, type StepRecord, type Worker } from './builder.js';
export { type ContainerConfig, type CopyStep, type RunStep, type Step } from './dispatch.js';
export { planStages, type BuildGraph, type Stage } from './stages.js';
