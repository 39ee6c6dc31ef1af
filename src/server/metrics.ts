/**
 * GET /metrics in Prometheus text format: requests by route and status, request
 * duration histogram for /v1, and process memory. No dependency, no labels from user input.
 */
import type { NextFunction, Request, Response } from 'express';

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Methods counted by name; any other is counted as OTHER. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** A request that matched no route (404s, scanners, anything refused before routing). */
export const UNMATCHED_ROUTE = 'unmatched';
/**
 * At most this many distinct routes get their own label; later ones are counted as
 * OVERFLOW_ROUTE. Routes are templates registered in code (a few dozen), so this only
 * bounds a mount path that carries request data.
 */
export const MAX_ROUTES = 200;
export const OVERFLOW_ROUTE = 'other';

export class Metrics {
  private requests = new Map<string, number>();
  private hist = new Map<string, { counts: number[]; sum: number; count: number }>();

  private routes = new Set<string>();

  /**
   * The route template, never the raw path (it may contain ids, and an unauthenticated
   * caller chooses it): a request no route matched is UNMATCHED_ROUTE, and past MAX_ROUTES
   * distinct templates the rest share OVERFLOW_ROUTE. Label sets stay bounded.
   */
  private routeOf(req: Request): string {
    const route = req.route?.path as unknown;
    if (typeof route !== 'string') return UNMATCHED_ROUTE;
    const r = `${req.baseUrl ?? ''}${route}`;
    if (this.routes.has(r)) return r;
    if (this.routes.size >= MAX_ROUTES) return OVERFLOW_ROUTE;
    this.routes.add(r);
    return r;
  }

  middleware() {
    return (req: Request, res: Response, next: NextFunction) => {
      const t0 = process.hrtime.bigint();
      res.on('finish', () => {
        const route = this.routeOf(req);
        const method = METHODS.has(req.method) ? req.method : 'OTHER';
        const key = `${method} ${route} ${res.statusCode}`;
        this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
        const secs = Number(process.hrtime.bigint() - t0) / 1e9;
        const hk = `${method} ${route}`;
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
