/**
 * Starts the real system for a test file: embedded Postgres (its own data dir and
 * free port), the Mastra runtime, and the HTTP server, with OPENAI_BASE_URL pointing
 * at THE SCRIPTED MODEL (harness/scripted-model.ts). Nothing else is replaced.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { loadConfig } from '../src/config';
import { createLogger } from '../src/logger';
import { startSystem, type System } from '../src/system';
import { validatingFetch, type SpecRecorder } from './openai-spec';
import { startScriptedModel, type Script, type ScriptedModel } from './scripted-model';

export interface TestSystem {
  system: System;
  model: ScriptedModel;
  dataDir: string;
  env: Record<string, string>;
  /**
   * An official OpenAI SDK client pointed at our /v1. Its fetch checks every answer
   * against OpenAI's published schemas (harness/openai-spec.ts) and records violations in `spec`.
   */
  client(apiKey?: string): OpenAI;
  /** The violations of OpenAI's schemas seen by every `client()` (await `spec.settled()`). */
  spec: SpecRecorder;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function makeDataDir(prefix = 'one-agents-test-'): Promise<string> {
  // Not under /root: the embedded Postgres runs as the unprivileged `postgres` user when we are root.
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function startTestSystem(opts: { script?: Script; env?: Record<string, string>; dataDir?: string } = {}): Promise<TestSystem> {
  const model = await startScriptedModel({ script: opts.script });
  const dataDir = opts.dataDir ?? (await makeDataDir());
  const env: Record<string, string> = {
    PORT: '0',
    DATA_DIR: dataDir,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    MODEL: 'openai/scripted-model',
    OPENAI_BASE_URL: model.url,
    OPENAI_API_KEY: 'sk-test-upstream-secret-0001',
    MODEL_MAX_RETRIES: '0',
    ...opts.env,
  };
  const config = loadConfig(env);
  const logger = createLogger(config.logLevel);
  let system = await startSystem(config, { logger });
  const spec = validatingFetch();
  const ts: TestSystem = {
    get system() {
      return system;
    },
    model,
    dataDir,
    env,
    spec,
    client: (apiKey = 'unused') => new OpenAI({ baseURL: `${system.url}/v1`, apiKey, maxRetries: 0, timeout: 30_000, fetch: spec.fetch }),
    async restart() {
      await system.stop();
      system = await startSystem(loadConfig(env), { logger });
    },
    /** Stops everything; then fails if any answer a `client()` got broke OpenAI's schemas (every test file checks them so). */
    async stop() {
      const violations = await spec.settled();
      await system.stop();
      await model.close();
      await fs.rm(dataDir, { recursive: true, force: true });
      if (violations.length) throw new Error(`answers that do not conform to OpenAI's schemas (harness/openai-spec.ts): ${JSON.stringify(violations.slice(0, 5), null, 1).slice(0, 4000)}`);
    },
  };
  return ts;
}

export interface BareSystem {
  system: System;
  dataDir: string;
  stop(): Promise<void>;
}

/**
 * The real system on a fresh temp data dir without the scripted model, for code that
 * never asks a model (scorers, services, sync tools) or brings its own model endpoint
 * in `env` (the evals' recorded-responses model).
 */
export async function startBareSystem(opts: { prefix?: string; env?: Record<string, string> } = {}): Promise<BareSystem> {
  const dataDir = await makeDataDir(opts.prefix);
  const config = loadConfig({ PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', MODEL_MAX_RETRIES: '0', ...opts.env });
  const system = await startSystem(config, { logger: createLogger(config.logLevel) }).catch(async (err) => {
    await fs.rm(dataDir, { recursive: true, force: true });
    throw err;
  });
  return {
    system,
    dataDir,
    async stop() {
      await system.stop();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}
