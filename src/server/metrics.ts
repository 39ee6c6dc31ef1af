/**
 * GET /metrics in Prometheus text format: requests by route and status, request
 * duration histogram for /v1, and process memory. No dependency, no labels from user input.
 */
import type { NextFunction, Request, Response } from 'express';

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class Metrics {
  private requests = new Map<string, number>();
  private hist = new Map<string, { counts: number[]; sum: number; count: number }>();

  /** The route pattern, never the raw path (it may contain ids). */
  private static routeOf(req: Request): string {
    const base = req.baseUrl ?? '';
    const route = (req.route?.path as string | undefined) ?? '';
    const r = `${base}${route}`;
    if (r) return r;
    const top = req.originalUrl.split('?')[0]!.split('/').slice(0, 2).join('/');
    return `${top || '/'}*`;
  }

  middleware() {
    return (req: Request, res: Response, next: NextFunction) => {
      const t0 = process.hrtime.bigint();
      res.on('finish', () => {
        const route = Metrics.routeOf(req);
        const key = `${req.method} ${route} ${res.statusCode}`;
        this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
        const secs = Number(process.hrtime.bigint() - t0) / 1e9;
        const hk = `${req.method} ${route}`;
        const h = this.hist.get(hk) ?? { counts: BUCKETS.map(() => 0), sum: 0, count: 0 };
        BUCKETS.forEach((b, i) => {
          if (secs <= b) h.counts[i]!++;
        });
        h.sum += secs;
        h.count++;
        this.hist.set(hk, h);
      });
      next();
    };
  }

  render(): string {
    const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
    const out = ['# HELP one_agents_http_requests_total HTTP requests by method, route and status', '# TYPE one_agents_http_requests_total counter'];
    for (const [k, v] of this.requests) {
      const [method, route, status] = k.split(' ');
      out.push(`one_agents_http_requests_total{method="${method}",route="${esc(route!)}",status="${status}"} ${v}`);
    }
    out.push('# HELP one_agents_http_request_duration_seconds HTTP request duration', '# TYPE one_agents_http_request_duration_seconds histogram');
    for (const [k, h] of this.hist) {
      const [method, route] = k.split(' ');
      const l = `method="${method}",route="${esc(route!)}"`;
      BUCKETS.forEach((b, i) => out.push(`one_agents_http_request_duration_seconds_bucket{${l},le="${b}"} ${h.counts[i]}`));
      out.push(`one_agents_http_request_duration_seconds_bucket{${l},le="+Inf"} ${h.count}`);
      out.push(`one_agents_http_request_duration_seconds_sum{${l}} ${h.sum}`, `one_agents_http_request_duration_seconds_count{${l}} ${h.count}`);
    }
    const m = process.memoryUsage();
    out.push('# TYPE process_resident_memory_bytes gauge', `process_resident_memory_bytes ${m.rss}`);
    out.push('# TYPE nodejs_heap_used_bytes gauge', `nodejs_heap_used_bytes ${m.heapUsed}`);
    return out.join('\n') + '\n';
  }
}
