/**
 * The embedded IPFS node in a process of its own, for bench/ipfs-pin (as Kubo runs
 * beside the app in production). Prints one JSON line {apiUrl, nullUrl} and runs until
 * SIGTERM or until its parent closes stdin.
 *
 * `nullUrl` is a server that parses an /api/v0/add upload exactly as the node does
 * (busboy, whole chunks) and throws the bytes away: the ceiling that kubo-rpc-client
 * and HTTP alone put on an upload.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startEmbeddedIpfs } from '../../services/ipfs/embedded';
import { multipartParts, readPieces } from '../../services/ipfs/http-util';
import { KUBO_CHUNK_SIZE } from '../../services/ipfs/node';
import { createLogger } from '../../src/logger';

const dir = process.argv[2];
if (!dir) throw new Error('usage: node-process.ts <repo dir>');
const embedded = await startEmbeddedIpfs({ dir, logger: createLogger('silent') });

const nullServer = http.createServer((req, res) => {
  void (async () => {
    let n = 0;
    for await (const part of multipartParts(req)) for await (const c of readPieces(part.stream, KUBO_CHUNK_SIZE)) n += c.length;
    // A well-formed add answer (the CID of the empty file) so the client is satisfied.
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ Name: 'null', Hash: 'QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH', Size: String(n) }) + '\n');
  })().catch(() => res.destroy());
});
await new Promise<void>((r) => nullServer.listen(0, '127.0.0.1', r));
const nullUrl = `http://127.0.0.1:${(nullServer.address() as AddressInfo).port}`;

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  nullServer.close();
  nullServer.closeAllConnections();
  await embedded.stop();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.stdin.on('end', () => void stop());
process.stdin.resume();
process.stdout.write(JSON.stringify({ apiUrl: embedded.apiUrl, nullUrl }) + '\n');
