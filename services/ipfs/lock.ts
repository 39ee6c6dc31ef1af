/**
 * The repo lock: many readers (adds, pins, block writes, reads that must not lose
 * blocks) or one writer (gc, block rm). Writers go first once waiting, so a gc is
 * not starved by a stream of adds.
 */
export class RwLock {
  private readers = 0;
  private writer = false;
  private queue: Array<{ write: boolean; go: () => void }> = [];

  private pump() {
    while (this.queue.length) {
      const next = this.queue[0]!;
      if (next.write ? this.writer || this.readers > 0 : this.writer) return;
      this.queue.shift();
      if (next.write) this.writer = true;
      else this.readers++;
      next.go();
      if (next.write) return;
    }
  }

  async run<T>(write: boolean, fn: () => Promise<T>): Promise<T> {
    await new Promise<void>((go) => {
      this.queue.push({ write, go });
      this.pump();
    });
    try {
      return await fn();
    } finally {
      if (write) this.writer = false;
      else this.readers--;
      this.pump();
    }
  }

  /** Takes a read lock and returns its release (for a hold that spans a generator). */
  async readLock(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let acquired!: () => void;
    const ready = new Promise<void>((r) => (acquired = r));
    void this.run(false, async () => {
      acquired();
      await held;
    });
    await ready;
    return release;
  }
}
