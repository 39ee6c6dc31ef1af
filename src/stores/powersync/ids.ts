/** Row ids of the synced tables (text UUIDs, PowerSync's `id`). */
import { createHash, randomUUID } from 'node:crypto';

/** A UUID-shaped id derived from its parts: the same inputs always give the same row id (idempotent writes). */
export function stableId(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${h.slice(18, 20)}-${h.slice(20, 32)}`;
}

export const newId = () => randomUUID();
