/**
 * Which model answered a request, when an agent has MODEL_FALLBACKS: the fallback
 * wrapper (fallback-model.ts) notes the chain entry it committed to in the request's
 * async context; the /v1 handlers read it for the response's `model` field and the
 * usage row. The context is opened once per HTTP request (src/server/app.ts), so
 * concurrent requests never see each other's note.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

interface Answered {
  /** `provider/model` as configured. */
  id?: string;
  /** True when it is not the chain's first (primary) model. */
  fallback?: boolean;
}

const store = new AsyncLocalStorage<Answered>();

/** Runs `fn` with an empty note of its own (for everything `fn` starts, including later awaits). */
export function withAnsweringModel<T>(fn: () => T): T {
  return store.run({}, fn);
}

/** Called by the fallback wrapper when it commits to chain entry `index`. */
export function noteAnsweringModel(id: string, index: number): void {
  const s = store.getStore();
  if (s) Object.assign(s, { id, fallback: index > 0 });
}

/** The model that answered in this context, when a fallback chain decided it. */
export function answeringModel(): Answered {
  return { ...store.getStore() };
}

/** The response's `model` field: the fallback's id when a fallback answered, else what the caller asked for (the agent's name). */
export function responseModel(requested: string): string {
  const a = store.getStore();
  return a?.fallback && a.id ? a.id : requested;
}
