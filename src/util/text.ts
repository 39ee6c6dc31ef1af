/**
 * Text bound for a Postgres `text` column. Postgres cannot store U+0000 (NUL) in text
 * (nor as `\u0000` in jsonb), so every NUL is replaced by U+FFFD (the replacement
 * character) before chat text reaches memory or the synced tables. Nothing else changes.
 */
export function pgText(s: string): string {
  return s.includes('\u0000') ? s.replace(/\u0000/g, '\uFFFD') : s;
}
