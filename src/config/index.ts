/**
 * The environment, read once into one validated object. A bad value fails fast at
 * start-up with a message that names the variable. Every variable is documented in
 * README.md and .env.example.
 *
 * One file per section (core, server, atproto, powersync, ipfs, observability); each
 * declares its variables (a zod shape) and builds its part of Config. This file parses
 * them all in one pass, so every issue of every section is reported together.
 */
import { z } from 'zod';
import { atprotoConfig, atprotoEnv, loadAtprotoLive, readAtprotoCredentials, type AtprotoConfig } from './atproto';
import { coreConfig, coreEnv, readFeatures, readModelFallbacks, readModelOverrides, type CoreConfig } from './core';
import { ConfigError } from './errors';
import { ipfsConfig, ipfsEnv, type IpfsConfig } from './ipfs';
import { readObservabilityConfig, type ObservabilityConfig } from './observability';
import { powersyncConfig, powersyncEnv, type PowerSyncConfig } from './powersync';
import { readAgentUsers, readOwnerBudgets, serverConfig, serverEnv, type ServerConfig } from './server';

export { parseDuration, replyModeOf, type AtprotoConfig, type AtprotoLiveConfig, type ReplyMode } from './atproto';
export { KNOWN_FEATURES, type AgentModelOverrides, type CoreConfig } from './core';
export { ConfigError } from './errors';
export type { IpfsConfig } from './ipfs';
export { parseOtlpHeaders, type ObservabilityConfig } from './observability';
export type { PowerSyncConfig } from './powersync';
export { budgetEnvName, budgetFor, mayUseAgent, type BudgetConfig, type ServerConfig } from './server';

const schema = z.object({ ...coreEnv, ...serverEnv, ...atprotoEnv, ...powersyncEnv, ...ipfsEnv });

export interface Config extends CoreConfig, ServerConfig {
  atproto: AtprotoConfig;
  powersync: PowerSyncConfig;
  ipfs: IpfsConfig;
  observability: ObservabilityConfig;
}

/** For entry points: the configuration, or the issues on stderr and exit 78 (EX_CONFIG). */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  const issues: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      // Never echo the offending value: it may be a secret.
      issues.push(`${issue.path.join('.') || '(environment)'}: ${issue.message}`);
    }
  }
  // The variables with a name suffix (AGENT_MODEL_<NAME>, …) and the hand-parsed blocks.
  const perAgent = readModelOverrides(env, issues);
  const fallbacks = readModelFallbacks(env, issues);
  const agentUsers = readAgentUsers(env);
  const perOwnerBudget = readOwnerBudgets(env, issues);
  const atCredentials = readAtprotoCredentials(env);
  const features = readFeatures(parsed.success ? parsed.data.FEATURES : undefined, issues);
  const observability = readObservabilityConfig(env, issues);
  const atLive = loadAtprotoLive(env, issues);

  if (issues.length || !parsed.success) throw new ConfigError(issues);
  const c = parsed.data;
  return {
    ...coreConfig(c, perAgent, features, fallbacks),
    ...serverConfig(c, agentUsers, perOwnerBudget),
    atproto: atprotoConfig(c, atCredentials, atLive),
    powersync: powersyncConfig(c),
    ipfs: ipfsConfig(c),
    observability,
  };
}
