/**
 * `npm run --silent mcp`: the MCP stdio bridge for local MCP clients (Claude Desktop,
 * Cursor, any client that starts a command). It speaks MCP over stdin/stdout to the client
 * and forwards every request to a running ONE Agents server's `/mcp` (Streamable HTTP) with
 * the caller's API key, so the client sees exactly the tools that key may use there.
 *
 *   ONE_AGENTS_URL      the server's base URL (default http://127.0.0.1:8787; a URL
 *                       ending in /mcp is used as it is)
 *   ONE_AGENTS_API_KEY  one of the server's API_KEYS, sent as `Authorization: Bearer`
 *   LOG_LEVEL           of the bridge's own log (default info)
 *
 * Forwarded: tools/list, tools/call, and resources/list, resources/templates/list,
 * resources/read, prompts/list, prompts/get (the lists are empty while the server offers
 * none). Nothing but MCP JSON-RPC goes to stdout: the log is JSON lines on stderr (never
 * the key), and console output is sent to stderr too. A server that is unreachable or
 * refuses the key is a clear MCP error on the request that needed it, never an exit; the
 * bridge connects again on the next request. It exits (0) when stdin closes, or on
 * SIGINT/SIGTERM. No state of its own: every call is one POST the server authorises.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CallToolRequestSchema,
  CallToolResultSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  type ServerCapabilities,
} from '@modelcontextprotocol/sdk/types.js';
import { createLogger, redactText, registerSecret, type LogLevel } from './logger';

// Nothing but JSON-RPC may reach stdout: any library's console output goes to stderr.
for (const m of ['log', 'info', 'debug'] as const) console[m] = console.error;

const BRIDGE_INFO = { name: 'one-agents-stdio', version: '0.1.0' };
const DEFAULT_URL = 'http://127.0.0.1:8787';
/** How long the start-up look at the server (its capabilities) may take before the bridge answers without it. */
const PROBE_TIMEOUT_MS = 10_000;
/** A turn of an agent may take minutes (MODEL_TIMEOUT_MS, tool steps); the local client's own timeout governs. */
const CALL_TIMEOUT_MS = 15 * 60_000;

const levels: LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];
const logLevel = levels.find((l) => l === process.env.LOG_LEVEL) ?? 'info';
const logger = createLogger(logLevel, { component: 'mcp-stdio' });

/** A start-up setting the bridge cannot work with: said on stderr, exit 78 (EX_CONFIG). */
function refuseToStart(message: string): never {
  logger.error(`cannot start: ${message}`);
  process.exit(78);
}

function endpointOf(raw: string | undefined): URL {
  let url: URL;
  try {
    url = new URL((raw ?? '').trim() || DEFAULT_URL);
  } catch {
    refuseToStart('ONE_AGENTS_URL is not a URL (e.g. http://127.0.0.1:8787)');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') refuseToStart('ONE_AGENTS_URL must be an http:// or https:// URL');
  if (url.username || url.password) refuseToStart('ONE_AGENTS_URL must not carry a user or password; set ONE_AGENTS_API_KEY');
  url.search = '';
  url.hash = '';
  if (!/\/mcp\/?$/.test(url.pathname)) url.pathname = `${url.pathname.replace(/\/+$/, '')}/mcp`;
  return url;
}

const endpoint = endpointOf(process.env.ONE_AGENTS_URL);
const apiKey = process.env.ONE_AGENTS_API_KEY?.trim() || undefined;
registerSecret(apiKey);
// A header value cannot hold control characters: refuse it here rather than on every request (fetch's error would quote it).
if (apiKey && !/^[\x21-\x7e]+$/.test(apiKey)) refuseToStart('ONE_AGENTS_API_KEY holds characters an HTTP header cannot carry (spaces, control or non-ASCII characters)');
const where = endpoint.origin + endpoint.pathname;

/** An MCP error for the local client: the code, message and data are sent as they are (no "MCP error" prefix twice). */
class BridgeError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: Record<string, unknown>,
  ) {
    super(redactText(message));
  }
}

/** The JSON-RPC error body the server sends with a refusal (src/server/mcp/errors.ts), if the text is one. */
function refusalBody(text: string): { code?: number; message?: string; data?: { code?: string } } | undefined {
  const json = text.slice(text.indexOf('{'));
  try {
    const body = JSON.parse(json) as { error?: { code?: number; message?: string; data?: { code?: string } } };
    return body?.error && typeof body.error === 'object' ? body.error : undefined;
  } catch {
    return undefined;
  }
}

/** The system error code (ECONNREFUSED, ENOTFOUND…) somewhere in a fetch failure's cause chain. */
function networkCode(err: unknown, depth = 0): string | undefined {
  if (!err || typeof err !== 'object' || depth > 5) return undefined;
  const e = err as { code?: unknown; cause?: unknown; name?: unknown };
  if (typeof e.code === 'string' && /^[A-Z_]+$/.test(e.code)) return e.code;
  if (e.name === 'TimeoutError') return 'ETIMEDOUT';
  return networkCode(e.cause, depth + 1);
}

/** What went wrong between the bridge and the server, as a clear MCP error for the local client. */
function remoteError(err: unknown): BridgeError {
  if (err instanceof BridgeError) return err;
  if (err instanceof McpError) {
    // The server's own JSON-RPC error (or the SDK's timeout / cancellation): passed on as it is.
    return new BridgeError(err.code, err.message.replace(/^MCP error -?\d+: /, ''), err.data as Record<string, unknown> | undefined);
  }
  if (err instanceof StreamableHTTPError && typeof err.code === 'number' && err.code >= 400) {
    const status = err.code;
    const body = refusalBody(err.message);
    const code = body?.data?.code;
    const said = body?.message ? ` ${body.message}` : '';
    const tag = `HTTP ${status}${code ? ` ${code}` : ''}`;
    const data = { status, ...(code ? { code } : {}) };
    const rpc = typeof body?.code === 'number' ? body.code : -32000;
    if (status === 401)
      return new BridgeError(rpc, `ONE Agents at ${where} refused the API key (${tag}).${said} ${apiKey ? 'Set ONE_AGENTS_API_KEY to one of the server\'s API_KEYS.' : 'ONE_AGENTS_API_KEY is not set: set it to one of the server\'s API_KEYS.'}`, data);
    if (status === 403) return new BridgeError(rpc, `ONE Agents at ${where} refused this request for the key's user (${tag}).${said}`, data);
    if (status === 404) return new BridgeError(rpc, `No MCP endpoint at ${where} (${tag}): is ONE_AGENTS_URL the ONE Agents server's base URL?`, data);
    if (status === 429) return new BridgeError(rpc, `ONE Agents at ${where} is rate limiting this key (${tag}).${said} Try again later.`, data);
    return new BridgeError(rpc, `ONE Agents at ${where} answered ${tag}.${said}`, data);
  }
  const net = networkCode(err);
  if (net || (err instanceof TypeError && /fetch failed/i.test(err.message)))
    return new BridgeError(-32000, `Cannot reach ONE Agents at ${where}${net ? ` (${net})` : ''}: is the server running? ONE_AGENTS_URL sets where the bridge looks.`, { code: 'unreachable', ...(net ? { cause: net } : {}) });
  const message = err instanceof Error ? err.message : String(err);
  return new BridgeError(ErrorCode.InternalError, `The request to ONE Agents at ${where} failed: ${message}`, { code: 'bridge_error' });
}

// ---- the connection to the server ---------------------------------------------------------

let remote: Promise<Client> | undefined;

/** The connected client of the server's /mcp; connects (again) when there is none. A failed connect is forgotten, so the next request tries anew. */
function connectRemote(timeout?: number): Promise<Client> {
  if (!remote) {
    const client = new Client(BRIDGE_INFO, { capabilities: {} });
    const transport = new StreamableHTTPClientTransport(endpoint, { requestInit: apiKey ? { headers: { authorization: `Bearer ${apiKey}` } } : {} });
    remote = client.connect(transport, timeout ? { timeout } : undefined).then(
      () => {
        logger.info('connected to ONE Agents', { url: where, server: client.getServerVersion()?.name, version: client.getServerVersion()?.version });
        return client;
      },
      (err) => {
        remote = undefined;
        void client.close().catch(() => {});
        throw remoteError(err);
      },
    );
  }
  return remote;
}

/** Sends one request to the server (`send`) and hands back its result as it came; any failure as a clear MCP error (logged without the key). */
async function forward<T>(method: string, send: (client: Client, options: RequestOptions) => Promise<T>, signal: AbortSignal, timeout?: number): Promise<T> {
  try {
    const client = await connectRemote();
    logger.debug('forwarding', { method });
    return await send(client, { signal, ...(timeout ? { timeout } : {}) });
  } catch (err) {
    const e = remoteError(err);
    logger.warn('request to ONE Agents failed', { method, url: where, rpc_code: e.code, ...(e.data ?? {}) });
    throw e;
  }
}

/** A list the server does not offer (no such capability) is empty rather than an error. */
async function offers(capability: 'resources' | 'prompts'): Promise<boolean> {
  try {
    return Boolean((await connectRemote()).getServerCapabilities()?.[capability]);
  } catch (err) {
    throw remoteError(err);
  }
}

// ---- the server the local client talks to -------------------------------------------------

async function main() {
  // A promise some library left without a handler is logged, never a reason to drop the client's session.
  process.on('unhandledRejection', (err) => logger.error('unhandled rejection', { error: err }));
  logger.info('MCP stdio bridge starting', { url: where, with_key: Boolean(apiKey) });
  // A first look at the server, to declare what it offers; if it cannot be reached now, the bridge still
  // starts (declaring tools, resources and prompts) and every request says why it cannot be answered.
  let known: ServerCapabilities | undefined;
  let instructions: string | undefined;
  try {
    const client = await connectRemote(PROBE_TIMEOUT_MS);
    known = client.getServerCapabilities();
    instructions = client.getInstructions();
  } catch (err) {
    const e = remoteError(err);
    logger.warn('ONE Agents is not answering yet; requests will say why', { url: where, error: e.message, ...(e.data ?? {}) });
  }
  const capabilities: ServerCapabilities = { tools: {} };
  if (!known || known.resources) capabilities.resources = {};
  if (!known || known.prompts) capabilities.prompts = {};

  const server = new Server(BRIDGE_INFO, { capabilities, ...(instructions ? { instructions } : {}) });
  server.setRequestHandler(ListToolsRequestSchema, (req, extra) => forward('tools/list', (c, o) => c.listTools(req.params, o), extra.signal));
  // As a request, not Client.callTool: the server's result is passed on unchanged (callTool would check it against the tool's output schema).
  server.setRequestHandler(CallToolRequestSchema, (req, extra) => forward('tools/call', (c, o) => c.request({ method: 'tools/call', params: req.params }, CallToolResultSchema, o), extra.signal, CALL_TIMEOUT_MS));
  if (capabilities.resources) {
    server.setRequestHandler(ListResourcesRequestSchema, async (req, extra) => ((await offers('resources')) ? forward('resources/list', (c, o) => c.listResources(req.params, o), extra.signal) : { resources: [] }));
    server.setRequestHandler(ListResourceTemplatesRequestSchema, async (req, extra) =>
      (await offers('resources')) ? forward('resources/templates/list', (c, o) => c.listResourceTemplates(req.params, o), extra.signal) : { resourceTemplates: [] },
    );
    server.setRequestHandler(ReadResourceRequestSchema, (req, extra) => forward('resources/read', (c, o) => c.readResource(req.params, o), extra.signal));
  }
  if (capabilities.prompts) {
    server.setRequestHandler(ListPromptsRequestSchema, async (req, extra) => ((await offers('prompts')) ? forward('prompts/list', (c, o) => c.listPrompts(req.params, o), extra.signal) : { prompts: [] }));
    server.setRequestHandler(GetPromptRequestSchema, (req, extra) => forward('prompts/get', (c, o) => c.getPrompt(req.params, o), extra.signal));
  }
  server.onerror = (err) => logger.warn('MCP message from the client refused', { error: err });

  let stopping = false;
  const stop = (reason: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('MCP stdio bridge stopping', { reason });
    void Promise.allSettled([server.close(), remote?.then((c) => c.close())]).finally(() => process.exit(0));
  };
  // The client closing stdin is the end of the session (the MCP stdio transport's shutdown).
  process.stdin.on('end', () => stop('stdin closed'));
  process.stdin.on('close', () => stop('stdin closed'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // Writing to a client that is gone (EPIPE) ends the bridge too.
  process.stdout.on('error', () => stop('stdout closed'));
  const transport = new StdioServerTransport();
  transport.onclose = () => stop('transport closed');
  await server.connect(transport);
  logger.info('MCP stdio bridge ready', { url: where, capabilities: Object.keys(capabilities) });
}

main().catch((err) => {
  logger.error('MCP stdio bridge failed', { error: err });
  process.exit(1);
});
