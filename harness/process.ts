/**
 * Real processes for tests that run the system as an operator does (`src/main.ts`,
 * `src/services.ts`): spawn with a clean environment, collect the output, know when it
 * is up, and stop whatever is left at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..');
/** What every child gets: no inherited secrets, telemetry off. */
// WORKERS=1: the app in the started process itself, as each process test expects (one
// worker process per core is the default; test/process/workers.test.ts runs that).
export const BASE_ENV = { PATH: process.env.PATH, HOME: process.env.HOME, MASTRA_TELEMETRY_DISABLED: '1', WORKERS: '1' };

export interface Running {
  child: ChildProcess;
  /** Resolves when `upMarker` appears in the output; rejects if the process exits first. */
  up: Promise<void>;
  exited: Promise<number | null>;
  output(): string;
}

const children: ChildProcess[] = [];
/** Children started in their own process group: killAll kills the whole group. */
const groups = new Set<ChildProcess>();

/**
 * Spawns `command args` in the project root with BASE_ENV + `env`. `group`: in its own
 * process group (stopped with stopGroup / killAll, children included); `uid`/`gid`: as
 * another user (a server that refuses to run as root; give it a `cwd` that user may enter).
 */
export function run(command: string, args: string[], env: Record<string, string | undefined>, upMarker = 'ONE Agents is up', opts: { group?: boolean; uid?: number; gid?: number; cwd?: string } = {}): Running {
  const child = spawn(command, args, { cwd: opts.cwd ?? ROOT, env: { ...BASE_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: opts.group ?? false, uid: opts.uid, gid: opts.gid });
  children.push(child);
  if (opts.group) groups.add(child);
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const up = new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d;
      if (output.includes(upMarker)) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => reject(new Error(`exited with ${code} before it was up:\n${output.slice(-2000)}`)));
  });
  up.catch(() => {}); // a test that expects an early exit awaits `exited` instead
  return { child, up, exited, output: () => output };
}

/** `npm start` as its script runs it: src/main.ts under this Node with tsx. */
export function startMain(env: Record<string, string | undefined>, opts: { group?: boolean } = {}): Running {
  return run(process.execPath, ['--import', 'tsx', 'src/main.ts'], env, 'ONE Agents is up', opts);
}

/**
 * Sends `signal` to the process group of a child started with `group: true`, waits up to
 * `graceMs` for the child to exit, then SIGKILLs the whole group. Resolves with the exit code
 * (null when it had to be killed).
 */
export async function stopGroup(r: Running, signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<number | null> {
  const pid = r.child.pid!;
  const done = r.child.exitCode !== null || r.child.signalCode !== null;
  if (!done) {
    try {
      process.kill(-pid, signal);
    } catch {}
  }
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([r.exited, new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), graceMs)))]);
  clearTimeout(timer);
  // Whatever is left in the group (children of the child) goes too.
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {}
  groups.delete(r.child);
  return code === 'timeout' ? null : code;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILLs every process started here that is still running (for afterAll). */
export function killAll(): void {
  for (const c of children.splice(0)) {
    if (groups.delete(c)) {
      try {
        process.kill(-c.pid!, 'SIGKILL');
      } catch {}
    } else if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}

/** Every child started here has exited. */
export function allExited(): boolean {
  return children.every((c) => c.exitCode !== null || c.signalCode !== null);
}
