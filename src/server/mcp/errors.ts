/**
 * MCP's error shapes. A request refused before the MCP server sees it (no or a wrong API
 * key, rate limit, bad JSON, a body over BODY_LIMIT, a method other than POST) answers
 * with the HTTP status /v1 would use and a JSON-RPC error body:
 *
 *   {"jsonrpc":"2.0","id":null,"error":{"code":-32700|-32600|-32000,"message":…,
 *    "data":{"status":401,"code":"missing_api_key","type":…,"param":…}}}
 *
 * -32700 for JSON that does not parse, -32600 for another malformed request (413, 415,
 * 405, 400), -32000 for the rest (401, 403, 404, 429); `data.code` is the stable code of
 * docs/errors.md. A failure inside a tool call is the tool's result with `isError: true`
 * and the /v1 error object as its text (MCP: tool errors go to the model, not the client).
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ErrorRequestHandler } from 'express';
import type { Logger } from '../../logger';
import { toOpenAIError } from '../errors';
import { errors, OpenAIError } from '../openai/errors';

export function jsonRpcCode(e: OpenAIError): number {
  if (e.code === 'invalid_json') return -32700;
  if ([400, 405, 413, 415].includes(e.status)) return -32600;
  return -32000;
}

export function jsonRpcErrorBody(e: OpenAIError) {
  const { error } = e.toJSON();
  return { jsonrpc: '2.0' as const, id: null, error: { code: jsonRpcCode(e), message: error.message, data: { status: e.status, code: error.code, type: error.type, param: error.param } } };
}

export function jsonRpcErrorSender(o: { logger: Logger; bodyLimit: string }): ErrorRequestHandler {
  return (err, req, res, _next) => {
    let e = toOpenAIError(err, o.bodyLimit);
    if (!e) {
      o.logger.error('MCP request failed', { path: req.path, error: err });
      e = errors.internal();
    }
    if (res.headersSent) return void res.end();
    for (const [k, v] of Object.entries(e.headers)) res.setHeader(k, v);
    // RFC 6750 / the MCP authorization spec: a 401 names the scheme it wants.
    if (e.status === 401) res.setHeader('www-authenticate', `Bearer error="invalid_token", error_description="${e.code === 'missing_api_key' ? 'no API key' : 'unknown API key'}"`);
    res.status(e.status).json(jsonRpcErrorBody(e));
  };
}

/** A failed tool call as MCP's tool result (`isError: true`): the /v1 error object as text and as structured content. */
export function toolError(err: unknown, logger: Logger): CallToolResult {
  let e = err instanceof OpenAIError ? err : undefined;
  if (!e) {
    logger.error('MCP tool call failed', { error: err });
    e = errors.internal();
  }
  return { isError: true, content: [{ type: 'text', text: JSON.stringify(e.toJSON()) }] };
}
