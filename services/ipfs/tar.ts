/**
 * A minimal ustar writer for `ipfs get` (Kubo answers a tar stream): regular files and
 * directories, with a PAX header for names longer than ustar's 100 bytes.
 */
const BLOCK = 512;

function octal(n: number | bigint, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function header(name: string, opts: { size: bigint; type: '0' | '5' | 'x'; mode: number; mtime: number }): Uint8Array {
  const h = new Uint8Array(BLOCK);
  const enc = new TextEncoder();
  const put = (s: string | Uint8Array, off: number, len: number) => h.set((typeof s === 'string' ? enc.encode(s) : s).subarray(0, len), off);
  put(name, 0, 100);
  put(octal(opts.mode, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(opts.size, 12), 124, 12);
  put(octal(opts.mtime, 12), 136, 12);
  put('        ', 148, 8);
  put(opts.type, 156, 1);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const b of h) sum += b;
  put(octal(sum, 7) + ' ', 148, 8);
  return h;
}

function pad(size: bigint): Uint8Array {
  const rem = Number(size % BigInt(BLOCK));
  return new Uint8Array(rem === 0 ? 0 : BLOCK - rem);
}

/** The header blocks of one entry (a PAX `path` record first when the name is long). */
export function tarHeader(name: string, kind: 'file' | 'directory', size: bigint): Uint8Array[] {
  const type = kind === 'directory' ? '5' : '0';
  const mode = kind === 'directory' ? 0o755 : 0o644;
  const out: Uint8Array[] = [];
  // Names as Kubo's tar writer sets them: no trailing slash on a directory.
  const full = name.replace(/\/+$/, '');
  if (Buffer.byteLength(full) > 100) {
    // "<len> path=<name>\n", where <len> counts its own digits.
    const body = ` path=${full}\n`;
    let len = Buffer.byteLength(body) + 1;
    while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
    const record = new TextEncoder().encode(`${len}${body}`);
    out.push(header('PaxHeader', { size: BigInt(record.length), type: 'x', mode: 0o644, mtime: 0 }), record, pad(BigInt(record.length)));
  }
  out.push(header(full.slice(0, 100), { size: kind === 'directory' ? 0n : size, type, mode, mtime: 0 }));
  return out;
}

export const tarPad = pad;
/** Two zero blocks end an archive. */
export const TAR_END = new Uint8Array(BLOCK * 2);
