/**
 * The AT store moved to src/stores/atproto/store.ts. Kept for modules still importing it
 * from here (src/features/atproto/trigger.ts, src/workflows/atproto/reply-to-mention.ts,
 * src/clients/atproto/clients.ts), which other changes are editing at the same time;
 * delete once they import from src/stores/atproto/store.
 */
export { AtprotoStore, type MentionRow, type NewMention } from '../../stores/atproto/store';
