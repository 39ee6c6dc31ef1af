/**
 * The client-side schema for @powersync/node and @powersync/web: the tables and
 * columns the sync rules (services/powersync/sync-rules.yaml) send to devices. Kept in
 * step by test/sync/rules.test.ts, which generates the schema from the sync rules and
 * the live Postgres schema with @powersync/service-sync-rules and compares.
 * (`id` is implicit in every PowerSync table.)
 */
import { Schema, Table, column } from '@powersync/common';

export const clientTables = {
  agents: new Table({ name: column.text, description: column.text, handle: column.text, did: column.text, updated_at: column.text }),
  conversations: new Table(
    { owner_id: column.text, agent: column.text, thread_id: column.text, title: column.text, created_at: column.text, updated_at: column.text },
    { indexes: { updated: ['updated_at'] } },
  ),
  messages: new Table(
    { owner_id: column.text, conversation_id: column.text, role: column.text, content: column.text, status: column.text, created_at: column.text },
    { indexes: { conversation: ['conversation_id', 'created_at'] } },
  ),
  artifacts: new Table({
    owner_id: column.text,
    agent: column.text,
    kind: column.text,
    title: column.text,
    cid: column.text,
    at_uri: column.text,
    size_bytes: column.integer,
    metadata: column.text,
    created_at: column.text,
  }),
  notes: new Table({ owner_id: column.text, title: column.text, body: column.text, created_by: column.text, created_at: column.text, updated_at: column.text }),
  tasks: new Table({ owner_id: column.text, title: column.text, status: column.text, due_at: column.text, created_by: column.text, created_at: column.text, updated_at: column.text }),
  agent_runs: new Table(
    {
      owner_id: column.text,
      conversation_id: column.text,
      message_id: column.text,
      reply_id: column.text,
      agent: column.text,
      model: column.text,
      status: column.text,
      stop_requested: column.integer,
      error: column.text,
      input_tokens: column.integer,
      output_tokens: column.integer,
      started_at: column.text,
      ended_at: column.text,
    },
    { indexes: { conversation: ['conversation_id', 'started_at'] } },
  ),
  agent_tool_calls: new Table(
    {
      owner_id: column.text,
      run_id: column.text,
      conversation_id: column.text,
      reply_id: column.text,
      name: column.text,
      arguments: column.text,
      result: column.text,
      status: column.text,
      started_at: column.text,
      ended_at: column.text,
    },
    { indexes: { run: ['run_id'] } },
  ),
  archives: new Table({ owner_id: column.text, agent: column.text, kind: column.text, cid: column.text, size_bytes: column.integer, created_at: column.text, verified_at: column.text }),
};

export const AppSchema = new Schema(clientTables);
export type Database = (typeof AppSchema)['types'];
