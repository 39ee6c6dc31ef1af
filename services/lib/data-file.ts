/**
 * A data file under DATA_DIR (generated keys, accounts, service state) that exists but
 * cannot be used: unreadable, not JSON, or not the expected shape. Recognised by its
 * `code` (services/ import nothing from src/): src/main.ts exits 78 (EX_CONFIG) with one
 * line naming the file, as for a bad configuration.
 */
export class DataFileError extends Error {
  readonly code = 'DATA_FILE_INVALID';
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`data file ${file} cannot be used (${reason}); fix it, or move it away to have it created anew`);
    this.name = 'DataFileError';
  }
}

/** Parses a data file's text as a JSON object (not null, not an array), else throws DataFileError. */
export function parseDataFile<T extends object>(file: string, text: string, check?: (v: Record<string, unknown>) => string | undefined): T {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new DataFileError(file, 'not valid JSON');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new DataFileError(file, 'not a JSON object');
  const problem = check?.(v as Record<string, unknown>);
  if (problem) throw new DataFileError(file, problem);
  return v as T;
}

/** The data-file helpers as one value, for code under src/ that is handed them at start-up (src/clients/powersync/keys.ts DataFiles). */
export const dataFiles = {
  parse: parseDataFile,
  unusable: (file: string, reason: string): Error => new DataFileError(file, reason),
};
