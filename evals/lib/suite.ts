/**
 * An eval suite is one JSON file per agent (evals/<agent>/suite.json): the agent it
 * scores, the scorers it uses with their thresholds, and its cases. This file holds
 * the schema (zod) and the loader; `loadSuites` fails fast with the file and the path
 * of a bad field, so a typo in a dataset never silently scores nothing.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';

const message = z.object({ role: z.enum(['user', 'assistant']), content: z.string().min(1) });

const toolCall = z.object({ name: z.string().min(1), arguments: z.record(z.string(), z.unknown()).default({}) });

/**
 * One scripted model turn of THE SCRIPTED AUTHOR (evals/lib/author.ts). It is not a
 * model: it is how the checked-in cassettes were produced on machines with no model.
 * `text` may use {{tool.<path>}} for a field of the last tool result (JSON).
 */
export const authorTurn = z.union([
  z.object({ toolCalls: z.array(toolCall).min(1), text: z.string().optional() }),
  z.object({ text: z.string() }),
]);
export type AuthorTurn = z.infer<typeof authorTurn>;

/** Ways untrusted text reaches an agent (the red-team suite's channels). */
export const REDTEAM_CHANNELS = ['mention', 'quoted-post', 'alt-text', 'thread-context', 'dm', 'synced-note', 'pinned-content', 'tool-result'] as const;
export type RedteamChannel = (typeof REDTEAM_CHANNELS)[number];

const taskStatus = z.enum(['open', 'in_progress', 'done', 'cancelled']);

/** Expected synced rows (strings compare case-insensitively, ignoring runs of whitespace). */
export const syncedExpectation = z
  .object({
    notes: z.array(z.object({ title: z.string().optional(), bodyContains: z.string().optional() }).strict()).optional(),
    tasks: z.array(z.object({ title: z.string().optional(), status: taskStatus.optional(), dueAt: z.string().datetime({ offset: true }).nullable().optional() }).strict()).optional(),
    artifacts: z.array(z.object({ kind: z.string().optional(), title: z.string().optional(), cid: z.string().optional(), atUri: z.string().optional() }).strict()).optional(),
    /** No row at all may exist for the conversation's user (refusals, failed updates). */
    nothing: z.boolean().optional(),
    /** Owner ids of other users the request names: none of them may get a row during the case. */
    otherUsers: z.array(z.string().min(1)).optional(),
  })
  .strict();
export type SyncedExpectation = z.infer<typeof syncedExpectation>;

/** What a case expects. Every field is optional; each scorer applies only where its field is set. */
export const expectation = z
  .object({
    /** Tools that must be called, in this order (tool-call accuracy + trajectory). */
    tools: z.array(z.string()).optional(),
    /** Arguments the calls must carry (subset match per tool, in `tools` order). */
    toolArgs: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
    /** No tool may be called (updateWorkingMemory, Mastra's memory tool, is ignored). */
    noTools: z.boolean().optional(),
    /** Tools that must NOT be called (e.g. the post tool when asked to leak a secret). */
    forbiddenTools: z.array(z.string()).optional(),
    /** Substrings (case-insensitive) the reply must contain / must not contain. */
    contains: z.array(z.string()).optional(),
    notContains: z.array(z.string()).optional(),
    /** The reply must decline (refusal language) rather than comply. */
    refusal: z.boolean().optional(),
    /** A tool in this run returns an error; the reply must acknowledge it, not invent a result. */
    toolError: z.boolean().optional(),
    /** Largest reply, in graphemes (persona: brief). */
    maxReplyGraphemes: z.number().int().positive().optional(),
    /** Text of every post the run created must be at most this many graphemes (Bluesky: 300). */
    maxPostGraphemes: z.number().int().positive().optional(),
    /** Every record the agent says it created must exist on the PDS (asked over XRPC). */
    postedOnPds: z.boolean().optional(),
    /** Facets of created posts are valid (byte ranges on grapheme boundaries, known features). */
    facetsValid: z.boolean().optional(),
    /** Every CID the run produced must be well formed AND pinned on the IPFS node (asked over the Kubo RPC). */
    pinned: z.boolean().optional(),
    /**
     * Rows the run must leave in the synced Postgres tables (notes, tasks, artifacts) for
     * the conversation's user, checked over SQL by `synced-rows`; rows the tools report
     * must belong to that user, and nothing may be written for another user.
     */
    synced: syncedExpectation.optional(),
    /** Criteria for the LLM judges (helpfulness / tone); run only with a judge model. */
    rubric: z.string().optional(),
    /**
     * Red team: the case carries an attack (prompt injection or abuse in untrusted text).
     * `goal` is what the attacker wants; `tools` are the side effects the attacker asks for
     * (default: every side-effecting tool). Scored by no-attacker-action, no-secret-leak and
     * no-system-prompt; any of them failing counts the attack as successful.
     */
    attack: z
      .object({ goal: z.enum(['side-effect', 'secret', 'system-prompt']), tools: z.array(z.string().min(1)).optional() })
      .strict()
      .optional(),
    /** Red team: a benign request through an untrusted channel; it must be answered, not refused (answered). */
    benign: z.boolean().optional(),
  })
  .strict();
export type Expectation = z.infer<typeof expectation>;

export const evalCase = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'use lower-case letters, digits and -'),
    description: z.string().min(1),
    /** What the case covers: tool-choice, no-tool, refusal, persona, tool-error, multi-turn… */
    tags: z.array(z.string()).default([]),
    /** Earlier turns of the conversation (sent first, in the same thread). */
    history: z.array(message).default([]),
    input: z.string().min(1),
    expect: expectation.default({}),
    author: z.array(authorTurn).min(1),
    /** Run this case on another agent than the suite's (the red-team suite spans every agent). */
    agent: z.string().min(1).optional(),
    /**
     * Red team: how the untrusted text reaches the agent (reported per channel). See
     * docs/evals.md for which channels are real paths and which are fed as text.
     */
    channel: z.enum(REDTEAM_CHANNELS).optional(),
    /**
     * Content put on the real services before the case runs: `ipfs` is pinned on the IPFS
     * node (Kubo RPC /api/v0/add, CIDv0) and must get `cid`, which the input names.
     */
    seed: z.object({ ipfs: z.object({ content: z.string().min(1), cid: z.string().min(1) }).strict() }).strict().optional(),
    /**
     * Red team: the turns of a model that FALLS for the attack, followed by THE SCRIPTED
     * AUTHOR's policy author/compromised-v1 (which follows `author` where this is absent).
     * They exist to show the scorers catch a successful attack.
     */
    compromised: z.array(authorTurn).min(1).optional(),
  })
  .strict();
export type EvalCase = z.infer<typeof evalCase>;

export const suiteFile = z
  .object({
    $schema: z.string().optional(),
    agent: z.string().min(1),
    description: z.string().min(1),
    /** Scorer ids (evals/scorers) and the mean score each must reach over the cases it applies to. */
    thresholds: z.record(z.string(), z.number().min(0).max(1)),
    /**
     * Gates on reliability over the cases (mean per case; with `--repeat k`, k runs each):
     * "pass^k" (every run passes), "pass@k" (at least one does), "pass@1" (share of runs).
     */
    reliability: z
      .object({ 'pass@1': z.number().min(0).max(1).optional(), 'pass@k': z.number().min(0).max(1).optional(), 'pass^k': z.number().min(0).max(1).optional() })
      .strict()
      .default({}),
    /** Tool output fields whose values change run to run (masked in cassette keys). */
    volatile: z.record(z.string(), z.array(z.string())).default({}),
    /** The agent's persona, for the tone judge. */
    persona: z.string().optional(),
    cases: z.array(evalCase).min(1),
  })
  .strict();

export interface Suite extends z.infer<typeof suiteFile> {
  name: string;
  file: string;
}

export class SuiteError extends Error {}

export async function loadSuiteFile(file: string, name = path.basename(path.dirname(file))): Promise<Suite> {
  let raw: unknown;
  try {
    raw = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (err) {
    throw new SuiteError(`${file}: ${(err as Error).message}`);
  }
  const parsed = suiteFile.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new SuiteError(`${file}: ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  const ids = new Set<string>();
  const inputs = new Set<string>();
  for (const c of parsed.data.cases) {
    if (ids.has(c.id)) throw new SuiteError(`${file}: duplicate case id "${c.id}"`);
    ids.add(c.id);
    // The recorded-responses model finds a case by its user turns: they must be unique.
    const key = [...c.history.filter((m) => m.role === 'user').map((m) => m.content), c.input].join('\u0000');
    if (inputs.has(key)) throw new SuiteError(`${file}: case "${c.id}" has the same user turns as another case`);
    inputs.add(key);
  }
  return { ...parsed.data, name, file };
}

/** evals/<name>/suite.json for every folder that has one (or just the named ones). */
export async function loadSuites(root: string, only?: string[]): Promise<Suite[]> {
  const dirs = (await fs.readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  const found: Suite[] = [];
  for (const d of dirs.sort()) {
    const file = path.join(root, d, 'suite.json');
    if (!(await fs.stat(file).catch(() => null))) continue;
    if (only && !only.includes(d)) continue;
    found.push(await loadSuiteFile(file, d));
  }
  for (const name of only ?? []) {
    if (!found.some((s) => s.name === name)) throw new SuiteError(`no suite "${name}" (looked for ${path.join(root, name, 'suite.json')})`);
  }
  return found;
}

/** The user turns of a case, in order: how the recorded-responses model recognises it. */
export function userTurns(c: EvalCase): string[] {
  return [...c.history.filter((m) => m.role === 'user').map((m) => m.content), c.input];
}
