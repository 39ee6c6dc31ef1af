/**
 * The project's root, for files read at run time (migrations, sync rules, lexicons).
 * Under `mastra dev` the code runs from a bundle in .mastra/output, so the module's
 * own location is not enough: src/dev.ts passes ONE_AGENTS_ROOT.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function projectRoot(): string {
  if (cached) return cached;
  const candidates = [process.env.ONE_AGENTS_ROOT, path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..'), process.cwd(), path.resolve(process.cwd(), '../..')];
  cached = candidates.find((c): c is string => !!c && existsSync(path.join(c, 'src', 'db', 'migrations'))) ?? process.cwd();
  return cached;
}

export function projectPath(...parts: string[]): string {
  return path.join(projectRoot(), ...parts);
}
