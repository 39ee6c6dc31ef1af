/** The embedded node's logger: the stand-ins' shared interface (services/lib/logger.ts). */
export { silentLogger, type Logger } from '../lib/logger';
export type LogFields = Record<string, unknown>;
