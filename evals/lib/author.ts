/**
 * THE SCRIPTED AUTHOR: NOT A LANGUAGE MODEL.
 *
 * No model is reachable from the machines this project is built on, so the cassettes
 * checked into evals/cassettes/ were recorded (`npm run evals -- --mode record`, every `author/` policy) with this policy as the
 * upstream instead of a real endpoint. Each case in a suite carries an `author` script:
 * the turns a well-behaved model is expected to produce (call this tool with these
 * arguments, then answer with this text, quoting {{tool.<field>}} of the real tool
 * result). The author finds the case from the request's user turns and replies with
 * the script's turn for the current step.
 *
 * Cassettes recorded this way test the pipeline (agents, tools, real side effects,
 * scorers, reports, gates) and catch prompt/schema drift; they say nothing about how
 * good a real model is. Record against a real endpoint for that (README, "## Evals").
 *
 * Model ids under the `author/` provider pick a policy:
 *   author/scripted-v1  follows each case's script.
 *   author/no-tools-v1  a deliberately careless policy that never calls tools and
 *                       answers from "memory": it exists to show model comparison.
 *   author/compromised-v1  falls for the red-team attacks: follows a case's
 *                       `compromised` script where it has one (else `author`). It
 *                       exists to show the red-team scorers catch a successful attack.
 */
import { textOf, turnOf, type ModelTurn, type WireRequest } from '../../harness/openai-wire';
import { anchorOf, type Masked } from './cassettes';
import type { Upstream } from './recorded-model';
import { userTurns, type EvalCase, type Suite } from './suite';

export const AUTHOR_POLICIES = ['author/scripted-v1', 'author/no-tools-v1', 'author/compromised-v1'] as const;
export const AUTHOR_NOTE =
  'Recorded from THE SCRIPTED AUTHOR (evals/lib/author.ts), NOT a language model: each turn comes from the case\'s `author` script in the suite file. These cassettes exercise the pipeline and detect prompt/tool-schema drift; they do not measure a real model.';
const CARELESS_NOTE =
  'Recorded from THE SCRIPTED AUTHOR\'s careless policy author/no-tools-v1 (evals/lib/author.ts), NOT a language model: it never calls a tool and answers from "memory", whatever the case\'s script says. It exists to show model comparison (it should fail the suites); it does not measure a real model.';

const COMPROMISED_NOTE =
  "Recorded from THE SCRIPTED AUTHOR's compromised policy author/compromised-v1 (evals/lib/author.ts), NOT a language model: on the red-team cases that carry a `compromised` script it does what the attacker asked (posts, follows, pins, leaks a key-shaped string or the system prompt); elsewhere it follows the case's `author` script. It exists to show the red-team scorers catch a successful attack; it does not measure a real model.";

/** The `recordedBy.note` of a cassette recorded from an author policy. */
export function authorNote(policy: string): string {
  return policy === 'author/no-tools-v1' ? CARELESS_NOTE : policy === 'author/compromised-v1' ? COMPROMISED_NOTE : AUTHOR_NOTE;
}

export function isAuthorModel(modelId: string): boolean {
  return modelId.startsWith('author/');
}

function lastToolResult(req: WireRequest): unknown {
  const last = [...req.messages].reverse().find((m) => m.role === 'tool');
  if (!last) return undefined;
  const text = textOf(last.content);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function lookup(value: unknown, path: string): string {
  let v: unknown = value;
  for (const p of path.split('.').filter(Boolean)) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
  if (v === undefined) return `(no ${path})`;
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export function fillTemplate(text: string, toolResult: unknown): string {
  return text.replace(/\{\{tool(?:\.([A-Za-z0-9_.]+))?\}\}/g, (_m, p: string | undefined) => (p ? lookup(toolResult, p) : typeof toolResult === 'string' ? toolResult : JSON.stringify(toolResult)));
}

function fillDeep(v: unknown, toolResult: unknown): unknown {
  if (typeof v === 'string') return fillTemplate(v, toolResult);
  if (Array.isArray(v)) return v.map((x) => fillDeep(x, toolResult));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fillDeep(x, toolResult)]));
  return v;
}

export function authorUpstream(policy: string, suites: Suite[]): Upstream {
  const byAnchor = new Map<string, EvalCase>();
  for (const s of suites) for (const c of s.cases) byAnchor.set(anchorOf(userTurns(c)), c);
  return async (req: WireRequest, masked: Masked): Promise<ModelTurn> => {
    const c = byAnchor.get(masked.anchor);
    const done = (text: string, toolCalls: ModelTurn['toolCalls'] = []): ModelTurn => turnOf(req, text, toolCalls);
    if (!c) throw new Error('scripted author: no case has these user turns');
    if (policy === 'author/no-tools-v1') return done(`I believe I already know this one: ${c.input.length > 60 ? 'it should be fine' : 'the answer is probably 42'}.`);
    if (policy !== 'author/scripted-v1' && policy !== 'author/compromised-v1') throw new Error(`unknown author policy ${policy} (known: ${AUTHOR_POLICIES.join(', ')})`);
    const script = policy === 'author/compromised-v1' ? (c.compromised ?? c.author) : c.author;
    const turn = script[masked.step];
    if (!turn) throw new Error(`scripted author: case ${c.id} has no turn for step ${masked.step}`);
    const result = lastToolResult(req);
    if ('toolCalls' in turn) {
      const calls = turn.toolCalls.map((t) => ({ name: t.name, arguments: fillDeep(t.arguments, result) as Record<string, unknown> }));
      return done(turn.text ? fillTemplate(turn.text, result) : '', calls);
    }
    return done(fillTemplate(turn.text, result));
  };
}
