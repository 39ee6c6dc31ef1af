/** A completed chat turn, handed to the features' onTurn hooks (e.g. mirrored into the synced tables). */
export interface CompletedTurn {
  agent: string;
  resourceId: string;
  threadId: string;
  userMessages: string[];
  reply: string;
}
