/**
 * OpenTelemetry for operators: with OTEL_EXPORTER_OTLP_ENDPOINT set, the spans of one
 * chat turn (agent run → model call → tool call) reach an OTLP/HTTP endpoint as
 * protobuf (the OTLP default), carrying the key owner, the agent and the thread. The
 * endpoint is a tiny HTTP server here; the protobuf is decoded by hand (wire format:
 * ExportTraceServiceRequest → ResourceSpans → ScopeSpans → Span → KeyValue), an
 * oracle independent of the OpenTelemetry packages that wrote it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { echoScript, lastUserText, pendingToolResult, type Script } from '../../harness/scripted-model';
import { startTestSystem, type TestSystem } from '../../harness/system';

const KEY = 'sk-test-otlp-alice-000001';

// ---- a minimal protobuf reader ------------------------------------------------------
type Field = { no: number; wire: number; int?: bigint; bytes?: Uint8Array };
function fields(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let i = 0;
  const varint = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[i++]!;
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const key = Number(varint());
    const no = key >>> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ no, wire, int: varint() });
    else if (wire === 2) {
      const len = Number(varint());
      out.push({ no, wire, bytes: buf.subarray(i, i + len) });
      i += len;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}
const sub = (f: Field[], no: number) => f.filter((x) => x.no === no && x.bytes).map((x) => fields(x.bytes!));
const str = (f: Field[], no: number) => {
  const b = f.find((x) => x.no === no)?.bytes;
  return b ? Buffer.from(b).toString('utf8') : undefined;
};
const hex = (f: Field[], no: number) => Buffer.from(f.find((x) => x.no === no)?.bytes ?? []).toString('hex');

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  attributes: Record<string, string | number | boolean>;
  service?: string;
}

/** ExportTraceServiceRequest (protobuf) → spans with string/int/bool/double attributes. */
function decodeTraces(body: Uint8Array): OtlpSpan[] {
  const spans: OtlpSpan[] = [];
  const attrsOf = (f: Field[]) => {
    const attrs: Record<string, string | number | boolean> = {};
    for (const kv of sub(f, 9)) {
      const value = sub(kv, 2)[0] ?? [];
      const s = str(value, 1);
      const b = value.find((x) => x.no === 2)?.int;
      const n = value.find((x) => x.no === 3)?.int;
      attrs[str(kv, 1)!] = s ?? (b !== undefined ? b === 1n : n !== undefined ? Number(n) : '?');
    }
    return attrs;
  };
  for (const rs of sub(fields(body), 1)) {
    const resource = sub(rs, 1)[0] ?? [];
    const service = attrsOf([...resource.map((x) => ({ ...x, no: x.no === 1 ? 9 : -1 }))])['service.name'] as string | undefined;
    for (const ss of sub(rs, 2)) {
      for (const sp of sub(ss, 2)) {
        spans.push({ traceId: hex(sp, 1), spanId: hex(sp, 2), parentSpanId: hex(sp, 4), name: str(sp, 5) ?? '', attributes: attrsOf(sp), service });
      }
    }
  }
  return spans;
}

// ---- the test -----------------------------------------------------------------------
const received: OtlpSpan[] = [];
const contentTypes = new Set<string>();
let collector: http.Server;
let t: TestSystem;

const script: Script = (req) => {
  if (!pendingToolResult(req) && lastUserText(req).startsWith('calc')) return { toolCalls: [{ name: 'calculate', arguments: { expression: '6 * 7' } }] };
  return echoScript(req);
};

beforeAll(async () => {
  collector = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces') {
        contentTypes.add(String(req.headers['content-type']));
        received.push(...decodeTraces(new Uint8Array(Buffer.concat(chunks))));
      }
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
  t = await startTestSystem({
    script,
    env: { FEATURES: 'none', API_KEYS: `${KEY}:alice`, OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SERVICE_NAME: 'one-agents-test' },
  });
});

afterAll(async () => {
  await t?.stop();
  await new Promise((r) => collector?.close(r));
});

it('sends the spans of a chat turn over OTLP/HTTP protobuf with the owner, agent and thread', async () => {
  const { data, response } = await t.client(KEY).chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'calc 6 * 7' }] }).withResponse();
  expect(data.choices[0]!.message.content).toContain('42');
  const threadId = response.headers.get('x-thread-id')!;

  // The exporter batches (5 s); stopping the system flushes it.
  const deadline = Date.now() + 15_000;
  while (!received.some((s) => s.name.includes('calculate')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
  if (!received.some((s) => s.name.includes('calculate'))) await t.system.stop();

  expect([...contentTypes]).toEqual(['application/x-protobuf']);
  const root = received.find((s) => s.attributes['gen_ai.agent.name'] === 'assistant' && !s.parentSpanId);
  expect(root, JSON.stringify(received.map((s) => s.name))).toBeDefined();
  expect(root!.service).toBe('one-agents-test');
  expect(root!.attributes).toMatchObject({
    'gen_ai.conversation.id': threadId,
    'mastra.metadata.keyOwner': 'alice',
    'mastra.metadata.resourceId': 'alice',
    'mastra.metadata.threadId': threadId,
  });
  const turn = received.filter((s) => s.traceId === root!.traceId);
  // agent run → model call(s) → tool call, all in one trace, each parented inside it.
  expect(turn.some((s) => /calculate/.test(s.name))).toBe(true);
  expect(turn.some((s) => /^chat /.test(s.name) || /llm|model|generation/i.test(s.name))).toBe(true);
  const ids = new Set(turn.map((s) => s.spanId));
  for (const s of turn) if (s !== root) expect(ids.has(s.parentSpanId)).toBe(true);
});
