/**
 * `insert … on conflict (a) do update` only absorbs races on its arbiter index: when two
 * processes insert the same row at once and the table has a second unique index (agents:
 * primary key and name), the loser gets a unique violation instead of the update. Running
 * the statement again then takes the update path.
 */
export async function retryUniqueRace<T>(fn: () => Promise<T>, tries = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if ((err as { code?: string }).code !== '23505' || i >= tries) throw err;
    }
  }
}
