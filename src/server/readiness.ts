/**
 * /ready: one check per backing service. Each later part of the system registers its
 * own (Postgres here; PDS, IPFS, sync as they are added).
 */
export type ReadinessCheck = () => Promise<void>;

export class Readiness {
  private checks = new Map<string, ReadinessCheck>();

  add(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
  }

  async run(timeoutMs = 3000): Promise<{ ready: boolean; services: Record<string, { ok: boolean; error?: string; ms: number }> }> {
    const services: Record<string, { ok: boolean; error?: string; ms: number }> = {};
    await Promise.all(
      [...this.checks].map(async ([name, check]) => {
        const t0 = performance.now();
        try {
          await Promise.race([
            check(),
            new Promise((_, rej) => setTimeout(() => rej(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs).unref()),
          ]);
          services[name] = { ok: true, ms: Math.round(performance.now() - t0) };
        } catch (err) {
          services[name] = { ok: false, error: (err as Error).message, ms: Math.round(performance.now() - t0) };
        }
      }),
    );
    return { ready: Object.values(services).every((s) => s.ok), services };
  }
}
