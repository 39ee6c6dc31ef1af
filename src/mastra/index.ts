/**
 * The entry point `mastra dev` (Studio) loads. It builds the same runtime as the
 * server, from the service URLs in the environment: `npm run dev` (src/dev.ts) starts
 * the embedded services first and passes their URLs to `mastra dev`.
 */
import { loadConfig } from '../config';
import { createLogger } from '../logger';
import { createContext } from '../system';
import { createRuntime } from '../system/runtime';

const config = loadConfig();
if (!config.databaseUrl) {
  throw new Error('DATABASE_URL is not set. Run `npm run dev`: it starts the embedded services and Studio together.');
}
const logger = createLogger(config.logLevel);
const urls: Record<string, string> & { databaseUrl: string } = { databaseUrl: config.databaseUrl };
for (const [k, v] of Object.entries(process.env)) {
  const m = /^([A-Z0-9_]+)_URL$/.exec(k);
  if (m && v && k !== 'DATABASE_URL') urls[m[1]!.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()) + 'Url'] = v;
}
const ctx = await createContext(config, logger, urls, () => {});

export const mastra = createRuntime(ctx).mastra;
