/**
 * Open WebUI's background task requests (read from open-webui/open-webui: config.py at
 * 00b1c6bc, routers/tasks.py at 074d4883, routers/openai.py at 004a45f5). Open WebUI
 * asks the chat model for a chat title, tags, follow-up suggestions, search/retrieval
 * queries, autocompletion, an emoji, an image prompt or a merged answer (MoA) through
 * the same /v1/chat/completions as the chat itself. Its router strips the
 * `metadata.task` it builds (routers/openai.py: `metadata = payload.pop("metadata")`),
 * and with ENABLE_FORWARD_USER_INFO_HEADERS the task carries the chat's own
 * X-OpenWebUI-Chat-Id, so neither says "task": the request body's shape does. Every
 * task is one user message holding a prompt template (backend/open_webui/config.py
 * DEFAULT_*_PROMPT_TEMPLATE, rendered by utils/task.py), `stream: false`, sometimes
 * `max_completion_tokens`, optionally after a system prompt of a workspace model; the
 * tool-choosing task is a system message "Available Tools: …" and a user "Query: …".
 *
 * A task is answered by the agent's model without the agent's tools or instructions and
 * without memory (src/server/openai/chat/run.ts runTask). Detection only ever takes something away
 * for the request it matches: a user whose own message looks like a task gets a plain
 * model answer once, and never reaches any thread.
 */
import { Agent } from '@mastra/core/agent';
import { textContent, type RequestMessage } from './schema';

export type BackgroundTask = 'title' | 'tags' | 'follow_ups' | 'queries' | 'autocomplete' | 'image_prompt' | 'emoji' | 'moa' | 'tool_choice' | 'task';

/** `### Task:` templates (title, tags, follow-ups, queries, autocomplete, image prompt) name their JSON key. */
const TASK_KEYS: Array<[RegExp, BackgroundTask]> = [
  [/\{\s*"title"\s*:/, 'title'],
  [/\{\s*"tags"\s*:/, 'tags'],
  [/\{\s*"follow_ups"\s*:/, 'follow_ups'],
  [/\{\s*"queries"\s*:/, 'queries'],
  [/autocompletion system/i, 'autocomplete'],
  [/\{\s*"prompt"\s*:/, 'image_prompt'],
];

const EMOJI = "Your task is to reflect the speaker's likely facial expression through a fitting emoji.";
const MOA = 'You have been provided with a set of responses from various models to the latest user query:';

/** The Open WebUI task this request is, or undefined for an ordinary chat request. */
export function openWebUITask(messages: RequestMessage[]): BackgroundTask | undefined {
  const users = messages.filter((m) => m.role === 'user');
  if (users.length !== 1 || messages.some((m) => m.role === 'assistant')) return undefined;
  const last = messages[messages.length - 1]!;
  if (last.role !== 'user') return undefined;
  const text = textContent(last.content).trimStart();
  if (text.startsWith('### Task:') && /<chat_history>[\s\S]*<\/chat_history>/.test(text)) {
    return TASK_KEYS.find(([re]) => re.test(text))?.[1] ?? 'task';
  }
  if (text.startsWith(EMOJI) && text.includes('Message: ```')) return 'emoji';
  if (text.startsWith(MOA) && text.includes('Responses from models:')) return 'moa';
  const system = messages.filter((m) => m.role === 'system' || m.role === 'developer');
  if (text.startsWith('Query: ') && system.some((m) => textContent(m.content).trimStart().startsWith('Available Tools:'))) return 'tool_choice';
  return undefined;
}

const taskAgents = new WeakMap<Agent, Promise<Agent>>();

/** An agent with `agent`'s model and nothing else: no instructions, no tools, no memory. One per agent. */
export function taskAgent(agent: Agent): Promise<Agent> {
  const known = taskAgents.get(agent);
  if (known) return known;
  const bare = Promise.resolve(agent.getModel()).then((model) => new Agent({ id: `${agent.id}-openwebui-task`, name: `${agent.name} (Open WebUI task)`, instructions: '', model: model as never }));
  bare.catch(() => taskAgents.delete(agent));
  taskAgents.set(agent, bare);
  return bare;
}
