/** `current-time`: the date and time now, optionally in an IANA time zone. */
import { createTool } from '@mastra/core/tools';
import { z } from 'zod';

export const currentTimeTool = createTool({
  id: 'current-time',
  description: 'The current date and time (ISO 8601), optionally in an IANA time zone such as Europe/Paris.',
  inputSchema: z.object({ timeZone: z.string().max(64).optional() }),
  outputSchema: z.object({ iso: z.string(), timeZone: z.string(), local: z.string().optional(), error: z.string().optional() }),
  execute: async ({ timeZone }) => {
    const now = new Date();
    const tz = timeZone ?? 'UTC';
    try {
      const local = new Intl.DateTimeFormat('en-GB', { timeZone: tz, dateStyle: 'full', timeStyle: 'long' }).format(now);
      return { iso: now.toISOString(), timeZone: tz, local };
    } catch {
      return { iso: now.toISOString(), timeZone: 'UTC', error: `unknown time zone "${tz}"` };
    }
  },
});
