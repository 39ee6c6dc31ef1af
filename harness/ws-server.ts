/**
 * A minimal WebSocket server (RFC 6455) on loopback for test and benchmark stand-ins of
 * streaming services (a Jetstream, a relay's subscribeRepos): handshake, unmasked
 * server frames (text or binary), pings answered, close; the connection's URL is handed
 * to `onConnection` so the stand-in can read `cursor` and the other query parameters.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { Duplex } from 'node:stream';

export interface WsConnection {
  url: URL;
  /** Sends one text (string) or binary frame; resolves when the socket took it (drains). */
  send(data: string | Uint8Array): Promise<void>;
  /** Whether the socket can take more without buffering (for rate-controlled senders). */
  writable(): boolean;
  /** Drops the TCP connection without a close frame (a server crash or network cut). */
  drop(): void;
  close(): void;
  closed: boolean;
  onClose?: () => void;
}

export interface WsServer {
  url: string;
  port: number;
  connections: Set<WsConnection>;
  close(): Promise<void>;
}

function frame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  let head: Buffer;
  if (len < 126) head = Buffer.from([0x80 | opcode, len]);
  else if (len < 65536) {
    head = Buffer.alloc(4);
    head[0] = 0x80 | opcode;
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([head, payload]);
}

export async function startWsServer(onConnection: (conn: WsConnection) => void): Promise<WsServer> {
  const server = http.createServer((_req, res) => {
    res.writeHead(426).end('upgrade required');
  });
  const sockets = new Set<Duplex>();
  const connections = new Set<WsConnection>();
  server.on('upgrade', (req, socket: Duplex) => {
    const key = req.headers['sec-websocket-key'];
    if (typeof key !== 'string') return socket.destroy();
    const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    sockets.add(socket);
    const s = socket as Duplex & { setNoDelay?: (b: boolean) => void; writableLength: number; writableHighWaterMark: number };
    s.setNoDelay?.(true);
    const conn: WsConnection = {
      url: new URL(req.url ?? '/', 'http://localhost'),
      closed: false,
      send(data) {
        if (conn.closed) return Promise.resolve();
        const buf = typeof data === 'string' ? frame(0x1, Buffer.from(data)) : frame(0x2, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
        if (socket.write(buf)) return Promise.resolve();
        return new Promise((r) => {
          const done = () => {
            socket.off('drain', done);
            socket.off('close', done);
            r();
          };
          socket.once('drain', done);
          socket.once('close', done);
        });
      },
      writable: () => !conn.closed && s.writableLength < s.writableHighWaterMark,
      drop() {
        socket.destroy();
      },
      close() {
        if (conn.closed) return;
        socket.end(frame(0x8, Buffer.from([0x03, 0xe8])));
      },
    };
    connections.add(conn);
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (buf.length < 2) return;
        const opcode = buf[0]! & 0x0f;
        let len = buf[1]! & 0x7f;
        let off = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          off = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(buf.readBigUInt64BE(2));
          off = 10;
        }
        const masked = (buf[1]! & 0x80) !== 0;
        const total = off + (masked ? 4 : 0) + len;
        if (buf.length < total) return;
        const mask = masked ? buf.subarray(off, off + 4) : undefined;
        const payload = Buffer.from(buf.subarray(total - len, total));
        if (mask) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
        buf = buf.subarray(total);
        if (opcode === 0x9) socket.write(frame(0xa, payload));
        else if (opcode === 0x8) socket.end(frame(0x8, payload.subarray(0, 2)));
      }
    });
    const closed = () => {
      if (conn.closed) return;
      conn.closed = true;
      connections.delete(conn);
      sockets.delete(socket);
      conn.onClose?.();
    };
    socket.on('close', closed);
    socket.on('error', closed);
    onConnection(conn);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${port}`,
    port,
    connections,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
