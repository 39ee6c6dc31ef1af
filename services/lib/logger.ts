/**
 * The logger the embedded stand-ins write to. The app hands in its own JSON logger
 * (same shape); run alone, a stand-in logs nothing unless given one.
 */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(bindings: Record<string, unknown>): Logger;
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => silentLogger,
};

/** Told every secret a stand-in generates or reads (passwords, keys), so the caller can keep it out of its logs. */
export type SecretSink = (secret: string) => void;
