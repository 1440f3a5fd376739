// At most N of a kind of work under way at once; the rest wait their turn in
// order. The daemon's creates and starts keep its one thread busy: admitted
// a few at a time, they leave turns between them for reads (ps, inspect),
// which a burst of fifty would otherwise queue behind.
export class Limiter {
  private running = 0;
  private waiting: (() => void)[] = [];

  constructor(private readonly max: number) {}

  async run<T>(fn: () => Promise<T> | T): Promise<T> {
    if (this.running >= this.max) await new Promise<void>((go) => this.waiting.push(go));
    else this.running++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next(); // the slot passes on
      else this.running--;
    }
  }
}
