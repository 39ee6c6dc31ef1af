/**
 * docker-compose.yml read the way `docker compose` reads it, for tests that start its
 * services as plain processes (test/process/topology.test.ts): a service's `environment:`
 * block with `${VAR…}` interpolated from a .env, the overrides a test must make outside
 * Docker (each one checked against what the compose file sets), and a Dockerfile's ENV
 * and exec-form CMD.
 */
export type Env = Record<string, string>;

/** A .env as docker compose reads it (NAME=value, '…' literal), as scripts/gen-secrets.sh writes it. */
export function parseDotEnv(text: string): Env {
  const env: Env = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2]!;
    if (v.length >= 2 && ((v.startsWith("'") && v.endsWith("'")) || (v.startsWith('"') && v.endsWith('"')))) v = v.slice(1, -1);
    env[m[1]!] = v;
  }
  return env;
}

/** Compose interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $$. */
export function interpolate(value: string, vars: Env, where: string): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}/g, (all, name: string | undefined, colon: string, op: string, arg: string) => {
    if (all === '$$') return '$';
    const v = vars[name!];
    const unset = v === undefined || (colon === ':' && v === '');
    if (op === '?' && unset) throw new Error(`${where}: required variable ${name} is missing a value: ${arg}`);
    if (op === '-' && unset) return arg;
    return v ?? '';
  });
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
}

export interface ComposeService {
  command?: string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  volumes?: string[];
}

/** A service's `environment:` block from docker-compose.yml, interpolated from `vars`. */
export function composeEnv(compose: ComposeFile, service: string, vars: Env): Env {
  const block = compose.services[service]?.environment;
  if (!block) throw new Error(`docker-compose.yml: service ${service} has no environment`);
  const entries = Array.isArray(block) ? block.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const) : Object.entries(block);
  return Object.fromEntries(entries.map(([k, v]) => [k, interpolate(String(v ?? ''), vars, `${service}.${k}`)]));
}

/**
 * `compose` with the overrides applied. Each override names a variable the compose file
 * sets (else the test fails) and says how it changes: a fixed value, `null` to drop it,
 * or a host:port swap in the compose value (which must contain it).
 */
export type Override = { set: string } | { drop: true } | { swap: [from: string, to: string] } | { add: string };
export function applyOverrides(service: string, compose: Env, overrides: Record<string, Override>): Env {
  const out = { ...compose };
  for (const [k, o] of Object.entries(overrides)) {
    if ('add' in o) {
      if (k in compose) throw new Error(`${service}.${k}: compose now sets it; make the override a "set"`);
      out[k] = o.add;
      continue;
    }
    if (!(k in compose)) throw new Error(`${service}.${k}: overridden, but docker-compose.yml does not set it`);
    if ('drop' in o) delete out[k];
    else if ('set' in o) out[k] = o.set;
    else {
      const [from, to] = o.swap;
      if (!compose[k]!.includes(from)) throw new Error(`${service}.${k}: expected "${from}" in the compose value`);
      out[k] = compose[k]!.replace(from, to);
    }
  }
  return out;
}

/** `ENV a=b c=d` and the exec-form `CMD [...]` of a Dockerfile. */
export function dockerfile(text: string): { env: Env; cmd: string[] } {
  const env: Env = {};
  for (const m of text.matchAll(/^ENV\s+(.+)$/gm)) for (const kv of m[1]!.trim().split(/\s+/)) env[kv.split('=')[0]!] = kv.slice(kv.indexOf('=') + 1);
  const cmd = JSON.parse(/^CMD\s+(\[.*\])\s*$/m.exec(text)![1]!) as string[];
  return { env, cmd };
}
