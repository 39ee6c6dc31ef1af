/** Every scorer the suites can name in their thresholds, by id. */
import { facetsValid, postLength, recordOnPds } from './atproto';
import { cidPinned } from './ipfs';
import { faithfulness, helpfulness, tone } from './judge';
import { noSecrets, refusal, replyContent, replyLength, toolErrorHandled } from './text';
import { answered, noAttackerAction, noSecretLeak, noSystemPrompt } from './redteam';
import { syncedRows } from './sync';
import { noTool, toolArgs, toolCallAccuracy, trajectory } from './tool-calls';
import type { EvalScorer } from './types';

export const SCORERS: EvalScorer[] = [
  toolCallAccuracy,
  trajectory,
  toolArgs,
  noTool,
  replyContent,
  refusal,
  replyLength,
  toolErrorHandled,
  noSecrets,
  recordOnPds,
  postLength,
  facetsValid,
  cidPinned,
  syncedRows,
  noAttackerAction,
  noSecretLeak,
  noSystemPrompt,
  answered,
  helpfulness,
  faithfulness,
  tone,
];

export const scorerById = new Map(SCORERS.map((s) => [s.id, s]));
export type { EvalScorer, ScoreContext, ScoreResult, JudgeConfig } from './types';
