/**
 * `npm run dev`: starts the embedded backing services (as `npm start` does), then
 * `mastra dev` (Studio) with their URLs in its environment, and stops both together.
 * Studio: http://localhost:4111 (MASTRA_PORT / MASTRA_HOST to change).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { loadConfig } from './config';
import { createLogger } from './logger';
import { startServices, urlEnvName } from './system';

const config = loadConfig();
const logger = createLogger(config.logLevel);
const stops: Array<() => Promise<void>> = [];
const urls = await startServices(config, logger, (_n, s) => stops.push(s));
// mastra dev reads its port from PORT; ours (the API server's) must not leak into it.
const env: NodeJS.ProcessEnv = {
  ...process.env,
  PORT: process.env.MASTRA_PORT ?? '4111',
  ONE_AGENTS_ROOT: process.cwd(),
  MASTRA_TELEMETRY_DISABLED: '1',
  MASTRA_HOST: process.env.MASTRA_HOST ?? '127.0.0.1',
};
for (const [k, v] of Object.entries(urls)) if (v) env[urlEnvName(k)] = v;

const bin = path.resolve('node_modules/mastra/dist/index.js');
const child = spawn(process.execPath, [bin, 'dev', ...process.argv.slice(2)], { stdio: 'inherit', env });
logger.info('Studio starting', { url: `http://${env.MASTRA_HOST}:${process.env.MASTRA_PORT ?? 4111}` });

let stopping = false;
const shutdown = async (code: number) => {
  if (stopping) return;
  stopping = true;
  if (child.exitCode === null) child.kill('SIGTERM');
  for (const s of stops.reverse()) await s().catch(() => {});
  process.exit(code);
};
child.on('exit', (code) => void shutdown(code ?? 0));
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
