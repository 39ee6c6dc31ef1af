/**
 * Side effects on IPFS, checked on the real node over the Kubo RPC API
 * (/api/v0/pin/ls), never inferred from the reply: every CID a tool reports is well
 * formed and actually pinned.
 */
import { CID } from 'multiformats/cid';
import { pass, type EvalScorer, type ScoreContext } from './types';

const CID_KEYS = /^(cid|root|rootCid|pinnedCid|archiveCid)$/;

/** CIDs in the successful results of the run's tools (fields named cid/root/rootCid…). */
export function reportedCids(ctx: ScoreContext): Array<{ tool: string; cid: string }> {
  const out: Array<{ tool: string; cid: string }> = [];
  const walk = (v: unknown, tool: string, depth = 0) => {
    if (!v || typeof v !== 'object' || depth > 4) return;
    for (const [k, x] of Object.entries(v)) {
      if (typeof x === 'string' && CID_KEYS.test(k)) out.push({ tool, cid: x });
      else walk(x, tool, depth + 1);
    }
  };
  // An unpin result names a CID that is, correctly, no longer pinned.
  for (const t of ctx.run.toolCalls) if (!t.error && !/unpin/i.test(t.name)) walk(t.result, t.name);
  return [...new Map(out.map((c) => [c.cid, c])).values()];
}

export async function isPinned(ipfsApiUrl: string, cid: string): Promise<{ pinned: boolean; detail: string }> {
  const res = await fetch(`${ipfsApiUrl.replace(/\/$/, '')}/api/v0/pin/ls?arg=${encodeURIComponent(cid)}`, { method: 'POST', signal: AbortSignal.timeout(15_000) });
  const body = await res.text();
  if (!res.ok) return { pinned: false, detail: `pin/ls HTTP ${res.status}: ${body.slice(0, 120)}` };
  try {
    const keys = (JSON.parse(body) as { Keys?: Record<string, unknown> }).Keys ?? {};
    const want = CID.parse(cid).toString();
    const hit = Object.keys(keys).some((k) => {
      try {
        return CID.parse(k).toV1().toString() === CID.parse(want).toV1().toString();
      } catch {
        return false;
      }
    });
    return { pinned: hit, detail: hit ? 'pinned' : 'not in pin/ls' };
  } catch {
    return { pinned: false, detail: 'pin/ls answered non-JSON' };
  }
}

export const cidPinned: EvalScorer = {
  id: 'cid-pinned',
  kind: 'code',
  description: 'Every CID a tool reports is well formed and pinned on the IPFS node (Kubo RPC pin/ls).',
  passAt: 1,
  applies: (c) => c.expect.pinned === true,
  async score(ctx) {
    const api = ctx.services.ipfsApiUrl;
    if (!api) return { skipped: 'no IPFS API URL for this target (for --target url pass --ipfs-api-url)' };
    const cids = reportedCids(ctx);
    if (!cids.length) return pass(false, 'no tool reported a CID: nothing was pinned');
    let ok = 0;
    const reasons: string[] = [];
    for (const { cid } of cids) {
      try {
        CID.parse(cid);
      } catch {
        reasons.push(`${cid}: not a well-formed CID`);
        continue;
      }
      const p = await isPinned(api, cid);
      if (p.pinned) ok++;
      reasons.push(`${cid}: ${p.detail}`);
    }
    return { score: ok / cids.length, reason: reasons.join('; ') };
  },
};
