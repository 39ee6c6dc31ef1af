/**
 * Cassettes: recorded model turns, keyed by a hash of the request the agent sent to the
 * model (model, messages, tool schemas, sampling settings).
 *
 * Run-to-run noise in tool results (timestamps, at:// URIs, DIDs, CIDs, UUIDs, and the
 * fields a suite lists as `volatile`) is masked before hashing, and the same values in a
 * recorded reply are stored as references (⟦ref:N⟧) to the N-th masked value of the
 * request, so a replayed reply quotes THIS run's real values, not the recording's.
 *
 * Anything else that changes (system prompt, a tool's schema, a user turn, a non-volatile
 * tool result) changes the key; `diagnoseMiss` then explains which part changed
 * ("cassette stale: tool schema changed (calculate)") instead of passing silently.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { textOf, type ModelTurn, type WireRequest } from '../../harness/openai-wire';

export type { ModelTurn, WireMessage, WireRequest, WireToolCall } from '../../harness/openai-wire';
export { textOf } from '../../harness/openai-wire';

export interface CassetteEntry {
  /** Set in memory only (the file is per model). */
  model?: string;
  key: string;
  /** Hash of the user turns: which conversation this belongs to. */
  anchor: string;
  /** How many assistant turns came after the last user turn (0 = first model call of the turn). */
  step: number;
  /** Which run of the case under `--repeat k` (0-based; absent = 0): each repeat is its own recording. */
  repeat?: number;
  case?: string;
  parts: { system: string; tools: Record<string, string>; messages: string; params: string };
  /** For humans reading the file: the last user turn and the tools offered. */
  summary: { lastUser: string; tools: string[] };
  response: ModelTurn;
}

export interface CassetteFile {
  about: string;
  recordedBy: { kind: 'scripted-author' | 'model'; policy: string; note: string };
  model: string;
  suite: string;
  entries: CassetteEntry[];
}

export const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const short = (s: string) => sha(s).slice(0, 16);

export function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
    .join(',')}}`;
}

const VOLATILE_PATTERNS: RegExp[] = [
  /\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?/g, // ISO timestamps
  /at:\/\/[^\s"'<>\\)\]]+/g, // AT URIs (carry DIDs and TIDs)
  /\bdid:(?:plc|web|key):[A-Za-z0-9._:%-]+/g,
  /\b(?:Qm[1-9A-HJ-NP-Za-km-z]{44}|b[a-z2-7]{58,})\b/g, // CIDv0 / base32 CIDv1
  /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, // UUIDs
];

/** Values under these keys in tool results are volatile for every tool. */
const ALWAYS_VOLATILE_KEYS = new Set(['createdAt', 'indexedAt', 'rev', 'commit']);

export interface Masked {
  key: string;
  /** The volatile values of the request, in order of appearance. */
  tokens: string[];
  anchor: string;
  step: number;
  /** Which run of the case (`--repeat k`, 0-based). */
  repeat: number;
  parts: CassetteEntry['parts'];
}

/** Masks the volatile values of a tool result; `volatileKeys` are the fields the suite lists for this tool. */
function maskToolResult(content: string, volatileKeys: Set<string>, tokens: string[]): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(content);
  } catch {
    return maskText(content, tokens);
  }
  const walk = (v: unknown, key?: string): unknown => {
    if (typeof v === 'string' || typeof v === 'number') {
      if (key && (volatileKeys.has(key) || ALWAYS_VOLATILE_KEYS.has(key))) {
        tokens.push(String(v));
        return '⟦v⟧';
      }
      return typeof v === 'string' ? maskText(v, tokens) : v;
    }
    if (Array.isArray(v)) return v.map((x) => walk(x));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
    return v;
  };
  return canonical(walk(parsed));
}

function maskText(text: string, tokens: string[]): string {
  // One pass over all patterns, left to right, so token order is stable.
  const hits: Array<{ at: number; value: string }> = [];
  for (const re of VOLATILE_PATTERNS) for (const m of text.matchAll(re)) hits.push({ at: m.index!, value: m[0] });
  hits.sort((a, b) => a.at - b.at || b.value.length - a.value.length);
  let out = '';
  let pos = 0;
  for (const h of hits) {
    if (h.at < pos) continue; // overlapped by an earlier, longer match (a DID inside an at:// URI)
    out += text.slice(pos, h.at) + '⟦v⟧';
    tokens.push(h.value);
    pos = h.at + h.value.length;
  }
  return out + text.slice(pos);
}

/** Replaces values seen earlier in this request (tool results) wherever they are quoted later. */
function maskKnown(text: string, tokens: string[]): string {
  let out = text;
  for (const t of [...new Set(tokens)].sort((a, b) => b.length - a.length)) if (t.length >= 6) out = out.split(t).join('⟦v⟧');
  return out;
}

function parseArgs(raw: string): unknown {
  try {
    return JSON.parse(raw || '{}');
  } catch {
    return raw;
  }
}

/** The cassette key of a request, its volatile values and the hashes of its parts. */
export function maskRequest(req: WireRequest, volatile: Record<string, string[]> = {}, modelId = req.model): Masked {
  const tokens: string[] = [];
  const callNames = new Map<string, string>();
  const callIndex = new Map<string, number>();
  const system: string[] = [];
  const messages: unknown[] = [];
  for (const m of req.messages) {
    if (m.role === 'system' || m.role === 'developer') {
      system.push(textOf(m.content));
      continue;
    }
    if (m.role === 'tool') {
      const name = callNames.get(m.tool_call_id ?? '') ?? m.name ?? '';
      const keys = new Set(volatile[name] ?? []);
      messages.push({ role: 'tool', call: callIndex.get(m.tool_call_id ?? '') ?? -1, content: maskToolResult(textOf(m.content), keys, tokens) });
      continue;
    }
    if (m.role === 'assistant') {
      const calls = (m.tool_calls ?? []).map((c) => {
        if (c.id) {
          callNames.set(c.id, c.function.name);
          callIndex.set(c.id, callIndex.size);
        }
        return { name: c.function.name, arguments: maskKnown(canonical(parseArgs(c.function.arguments)), tokens) };
      });
      messages.push({ role: 'assistant', content: maskKnown(textOf(m.content), tokens), calls });
      continue;
    }
    messages.push({ role: m.role, content: textOf(m.content) });
  }
  const tools: Record<string, string> = {};
  for (const t of req.tools ?? []) tools[t.function.name] = short(canonical(t.function));
  const params: Record<string, unknown> = {};
  for (const k of ['temperature', 'top_p', 'max_tokens', 'max_completion_tokens', 'stop', 'tool_choice', 'response_format', 'seed', 'presence_penalty', 'frequency_penalty']) params[k] = req[k];
  const parts = { system: short(system.join('\n---\n')), tools, messages: short(canonical(messages)), params: short(canonical(params)) };
  const users = req.messages.filter((m) => m.role === 'user').map((m) => textOf(m.content));
  const lastUser = req.messages.map((m) => m.role).lastIndexOf('user');
  const step = req.messages.slice(lastUser + 1).filter((m) => m.role === 'assistant').length;
  return { key: sha(canonical({ model: modelId, parts })), tokens, anchor: anchorOf(users), step, repeat: 0, parts };
}

/**
 * The key of the same request in run `repeat` of its case (`--repeat k`): repeat 0 keeps
 * the plain key (cassettes recorded without --repeat stay valid), later repeats hash the
 * index in, so k recordings of one case are k variants, each replayed in its own run.
 */
export function forRepeat(m: Masked, repeat: number): Masked {
  return repeat ? { ...m, repeat, key: sha(`${m.key}\u0000repeat:${repeat}`) } : { ...m, repeat: 0 };
}

export function anchorOf(userTurns: string[]): string {
  return short(userTurns.join('\u0000'));
}

/** Stores the reply with this request's volatile values replaced by references. */
export function templateTurn(turn: ModelTurn, tokens: string[]): ModelTurn {
  const uniq = [...new Set(tokens)].filter((t) => t.length >= 6).sort((a, b) => b.length - a.length);
  const sub = (s: string) => {
    let out = s;
    for (const t of uniq) out = out.split(t).join(`⟦ref:${tokens.indexOf(t)}⟧`);
    return out;
  };
  return {
    ...turn,
    text: sub(turn.text),
    toolCalls: turn.toolCalls.map((c) => ({ name: c.name, arguments: JSON.parse(sub(JSON.stringify(c.arguments))) as Record<string, unknown> })),
  };
}

/** The recorded reply with references filled in from this run's values. */
export function fillTurn(turn: ModelTurn, tokens: string[]): ModelTurn {
  const sub = (s: string) => s.replace(/⟦ref:(\d+)⟧/g, (m, i: string) => tokens[Number(i)] ?? m);
  return {
    ...turn,
    text: sub(turn.text),
    toolCalls: turn.toolCalls.map((c) => ({ name: c.name, arguments: JSON.parse(sub(JSON.stringify(c.arguments))) as Record<string, unknown> })),
  };
}

/** Why a request has no recorded reply: the nearest recorded request and what differs. */
export function diagnoseMiss(m: Masked, entries: CassetteEntry[]): string {
  const conversation = entries.filter((e) => e.anchor === m.anchor);
  if (!conversation.length) return 'no cassette recorded for this conversation (new or edited case?): record it with --mode record';
  const same = conversation.filter((e) => (e.repeat ?? 0) === m.repeat);
  if (!same.length) {
    const runs = Math.max(...conversation.map((e) => e.repeat ?? 0)) + 1;
    return `no cassette recorded for repeat ${m.repeat + 1} of this case (the cassette has ${runs} run(s)): record it with --mode record --repeat ${m.repeat + 1}`;
  }
  const atStep = same.filter((e) => e.step === m.step);
  if (!atStep.length) {
    const steps = [...new Set(same.map((e) => e.step))].sort().join(', ');
    return `cassette stale: the agent made a model call at step ${m.step}, the recording has steps ${steps} (tool results or the agent loop changed)`;
  }
  const e = atStep[0]!;
  const why: string[] = [];
  if (e.parts.system !== m.parts.system) why.push('system prompt changed');
  const changed = Object.keys(m.parts.tools).filter((t) => t in e.parts.tools && e.parts.tools[t] !== m.parts.tools[t]);
  const added = Object.keys(m.parts.tools).filter((t) => !(t in e.parts.tools));
  const removed = Object.keys(e.parts.tools).filter((t) => !(t in m.parts.tools));
  if (changed.length) why.push(`tool schema changed (${changed.join(', ')})`);
  if (added.length) why.push(`tool added (${added.join(', ')})`);
  if (removed.length) why.push(`tool removed (${removed.join(', ')})`);
  if (e.parts.params !== m.parts.params) why.push('sampling settings changed');
  if (e.parts.messages !== m.parts.messages) why.push('conversation changed (a prior turn or a tool result differs)');
  if (!why.length) why.push('model id changed');
  return `cassette stale: ${why.join('; ')}`;
}

export function modelSlug(modelId: string): string {
  return modelId.replace(/[^A-Za-z0-9._-]+/g, '__');
}

export function cassettePath(dir: string, modelId: string, suite: string): string {
  return path.join(dir, modelSlug(modelId), `${suite}.json`);
}

export async function readCassettes(dir: string, modelId: string): Promise<CassetteFile[]> {
  const d = path.join(dir, modelSlug(modelId));
  const names = await fs.readdir(d).catch(() => [] as string[]);
  const out: CassetteFile[] = [];
  for (const n of names.filter((x) => x.endsWith('.json')).sort()) out.push(JSON.parse(await fs.readFile(path.join(d, n), 'utf8')) as CassetteFile);
  return out;
}

export async function writeCassette(dir: string, file: CassetteFile): Promise<string> {
  const p = cassettePath(dir, file.model, file.suite);
  await fs.mkdir(path.dirname(p), { recursive: true });
  file.entries = file.entries.map(({ model: _m, ...e }) => e);
  file.entries.sort((a, b) => (a.case ?? '').localeCompare(b.case ?? '') || (a.repeat ?? 0) - (b.repeat ?? 0) || a.step - b.step || a.key.localeCompare(b.key));
  await fs.writeFile(p, JSON.stringify(file, null, 2) + '\n');
  return p;
}
