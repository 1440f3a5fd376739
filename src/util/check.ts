// Typed reads from untrusted JSON. Every failure names the field by its path
// (e.g. "process.args[0]"), so a bad config.json says exactly what is wrong.

export class InvalidInput extends Error {
  constructor(readonly field: string, problem: string) {
    super(`${field}: ${problem}`);
    this.name = 'InvalidInput';
  }
}

/**
 * Input refused in docker's own words: the message is the problem alone
 * ("No command specified", "No such container: x"), which clients match;
 * `field` still says what it concerns. A 400, or for the subclasses a
 * missing object (404) and a refused change of state (409).
 */
export class DockerWords extends InvalidInput {
  constructor(field: string, problem: string) { super(field, problem); this.message = problem; }
}
export class NotFound extends DockerWords {}
export class Conflict extends DockerWords {}
/** A change docker refuses outright (403): removing a predefined network, one with endpoints. */
export class Forbidden extends DockerWords {}

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type Obj = { [k: string]: Json };

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

/** A cursor over one JSON value that knows its own path. */
export class Field {
  /** `onUnknown`: where keys() reports a key it does not know, instead of refusing it (the OCI runtime spec: an unknown property is no error) */
  constructor(readonly path: string, readonly value: unknown, private readonly onUnknown?: (path: string) => void) {}

  get present(): boolean {
    return this.value !== undefined && this.value !== null;
  }

  /** The key is there, even when its value is null (schemas that say "type: string" refuse null). */
  get exists(): boolean {
    return this.value !== undefined;
  }

  fail(problem: string): never {
    throw new InvalidInput(this.path, problem);
  }

  at(key: string): Field {
    const v = isObj(this.value) ? this.value[key] : undefined;
    return new Field(this.path ? `${this.path}.${key}` : key, v, this.onUnknown);
  }

  object(): Obj {
    if (!isObj(this.value)) this.fail(`must be an object, got ${describe(this.value)}`);
    return this.value;
  }

  optObject(): Obj | undefined {
    return this.present ? this.object() : undefined;
  }

  /** Rejects keys that are not in `known` (typos must not pass silently). */
  keys(known: readonly string[]): this {
    for (const k of Object.keys(this.object())) {
      if (known.includes(k)) continue;
      if (this.onUnknown) this.onUnknown(this.at(k).path);
      else this.at(k).fail(`unknown field (expected one of: ${known.join(', ')})`);
    }
    return this;
  }

  string(): string {
    if (typeof this.value !== 'string') this.fail(`must be a string, got ${describe(this.value)}`);
    return this.value;
  }

  optString(): string | undefined {
    return this.present ? this.string() : undefined;
  }

  nonEmptyString(): string {
    const s = this.string();
    if (s === '') this.fail('must not be empty');
    return s;
  }

  absPath(): string {
    const s = this.nonEmptyString();
    if (!s.startsWith('/')) this.fail(`must be an absolute path, got ${JSON.stringify(s)}`);
    if (s.includes('\0')) this.fail('must not contain NUL');
    return s;
  }

  bool(): boolean {
    if (typeof this.value !== 'boolean') this.fail(`must be a boolean, got ${describe(this.value)}`);
    return this.value;
  }

  optBool(dflt = false): boolean {
    return this.present ? this.bool() : dflt;
  }

  int(min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.value;
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(`must be an integer, got ${describe(v)}`);
    if (v < min || v > max) this.fail(`must be between ${min} and ${max}, got ${v}`);
    return v;
  }

  optInt(min?: number, max?: number): number | undefined {
    return this.present ? this.int(min, max) : undefined;
  }

  /** Integers that may exceed 2^53 (rlimits, memory sizes): kept as bigint. */
  uint64(): bigint {
    const v = this.value;
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return BigInt(v);
    if (typeof v === 'bigint' && v >= 0n) return v;
    this.fail(`must be a non-negative integer, got ${describe(v)}`);
  }

  array(): Field[] {
    if (!Array.isArray(this.value)) this.fail(`must be an array, got ${describe(this.value)}`);
    return this.value.map((v, i) => new Field(`${this.path}[${i}]`, v, this.onUnknown));
  }

  optArray(): Field[] {
    return this.present ? this.array() : [];
  }

  strings(): string[] {
    return this.array().map((f) => f.string());
  }

  optStrings(): string[] {
    return this.present ? this.strings() : [];
  }

  oneOf<T extends string>(choices: readonly T[]): T {
    const s = this.string();
    if (!(choices as readonly string[]).includes(s)) {
      this.fail(`unknown value ${JSON.stringify(s)} (expected one of: ${choices.join(', ')})`);
    }
    return s as T;
  }

  stringMap(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const k of Object.keys(this.object())) out[k] = this.at(k).string();
    return out;
  }

  optStringMap(): Record<string, string> {
    return this.present ? this.stringMap() : {};
  }
}
