/**
 * Server-side writes to the synced tables moved to the PowerSync store (src/stores/powersync:
 * ids.ts, turn-mirror.ts, agents.ts). Kept for src/workflows/powersync/answer-message.ts,
 * which another change is editing at the same time; delete once it imports from the store.
 */
export { newId, stableId } from '../../stores/powersync/ids';
export { drainTurnMirrors, enqueueTurnMirror, ensureConversation, ForeignThreadError, mirrorTurn, TurnMirrorDrainer, writeTurn, type TurnToMirror } from '../../stores/powersync/turn-mirror';
export { publishAgentDirectory } from '../../stores/powersync/agents';
