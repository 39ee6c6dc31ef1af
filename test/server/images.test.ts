/**
 * Images in user messages on POST /v1/chat/completions: data: URLs and http(s) URLs fetched
 * through the outbound guard (a local image server allowed by OUTBOUND_ALLOW_HOSTS), against
 * the running server with real Postgres. The only stand-in is THE SCRIPTED MODEL upstream
 * (harness/scripted-model.ts); its recorded requests show the image parts the model received.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { echoScript, lastUserText, textOf } from '../../harness/scripted-model';
import { startTestSystem, type TestSystem } from '../../harness/system';

// A 1x1 PNG, a 1x1 GIF.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
const GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
const MAX = 4096;
/** Under IMAGE_MAX_BYTES alone; four of them pass IMAGE_MAX_TOTAL_BYTES (3 * MAX). */
const BIG = Buffer.concat([PNG, Buffer.alloc(4000 - PNG.length)]);
const TOTAL = 3 * MAX;
const IN_FLIGHT = 5 * MAX;

let t: TestSystem;
let client: OpenAI;
let images: http.Server;
let imageBase: string;
let fetches = 0;

beforeAll(async () => {
  images = http.createServer((req, res) => {
    fetches++;
    if (req.url === '/cat.png') return void res.writeHead(200, { 'content-type': 'image/png' }).end(PNG);
    if (req.url === '/cat.gif') return void res.writeHead(200, { 'content-type': 'image/gif' }).end(GIF);
    if (req.url === '/page.html') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>');
    if (req.url === '/lying.png') return void res.writeHead(200, { 'content-type': 'image/png' }).end('<html>not a png</html>');
    if (req.url === '/big.png') return void res.writeHead(200, { 'content-type': 'image/png' }).end(BIG);
    if (req.url === '/huge.png') return void res.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.concat([PNG, Buffer.alloc(MAX * 4)]));
    if (req.url === '/to-private') return void res.writeHead(302, { location: 'http://10.1.2.3/cat.png' }).end();
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => images.listen(0, '127.0.0.1', r));
  imageBase = `http://127.0.0.1:${(images.address() as AddressInfo).port}`;
  t = await startTestSystem({ env: { FEATURES: 'none', IMAGE_MAX_BYTES: String(MAX), OUTBOUND_ALLOW_HOSTS: imageBase.replace('http://', ''), IMAGE_FETCH_TIMEOUT_MS: '2000', IMAGE_MAX_TOTAL_BYTES: String(TOTAL), IMAGE_MAX_INFLIGHT_BYTES: String(IN_FLIGHT) } });
  client = t.client();
});
afterAll(async () => {
  await t?.stop();
  images?.closeAllConnections();
  await new Promise((r) => images?.close(r));
});
beforeEach(() => t.model.setScript(echoScript));

const dataUrl = (b: Buffer, type = 'image/png') => `data:${type};base64,${b.toString('base64')}`;
const withImage = (url: string): OpenAI.Chat.ChatCompletionMessageParam[] => [{ role: 'user', content: [{ type: 'text', text: 'what is this?' }, { type: 'image_url', image_url: { url, detail: 'low' } }] }];
/** The image parts of the last user message the model received. */
function upstreamImages() {
  const user = t.model.requests.at(-1)!.messages.filter((m) => m.role === 'user').at(-1)!;
  return (Array.isArray(user.content) ? user.content : []).filter((p) => p.type === 'image_url') as unknown as Array<{ image_url: { url: string } }>;
}
async function apiError(p: Promise<unknown>) {
  const err = (await p.catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
  expect(err).toBeInstanceOf(OpenAI.APIError);
  return err;
}

describe('images in', () => {
  it('a data: URL reaches the model as an image_url part', async () => {
    const r = await client.chat.completions.create({ model: 'assistant', messages: withImage(dataUrl(PNG)) });
    expect(r.choices[0]!.message.content).toBe('Echo: what is this?');
    expect(upstreamImages().map((p) => p.image_url.url)).toEqual([dataUrl(PNG)]);
  });

  it('an http URL is fetched through the guard and sent to the model as data', async () => {
    const before = fetches;
    await client.chat.completions.create({ model: 'assistant', messages: withImage(`${imageBase}/cat.gif`) });
    expect(fetches).toBe(before + 1);
    expect(upstreamImages().map((p) => p.image_url.url)).toEqual([dataUrl(GIF, 'image/gif')]);
  });

  it('memory keeps a short placeholder, not the image bytes', async () => {
    const { response } = await client.chat.completions.create({ model: 'assistant', messages: withImage(dataUrl(PNG)) }).withResponse();
    const thread = response.headers.get('x-thread-id')!;
    await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'and now?' }] }, { headers: { 'x-thread-id': thread } });
    const sent = JSON.stringify(t.model.requests.at(-1)!.messages);
    expect(sent).not.toContain(PNG.toString('base64').slice(0, 40));
    const first = t.model.requests.at(-1)!.messages.filter((m) => m.role === 'user')[0]!;
    expect(textOf(first.content)).toContain('what is this?');
    expect(textOf(first.content)).toMatch(/\[image: image\/png, \d+ bytes\]/);
  });

  it('refuses bad base64, a wrong or mismatched media type, a too large image (400 naming the param)', async () => {
    const cases: Array<[string, string]> = [
      ['data:image/png;base64,!!!notbase64!!', 'invalid_image'],
      ['data:image/png;base64,', 'invalid_image'],
      ['data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=', 'invalid_image'],
      ['data:image/png,rawtext', 'invalid_image'],
      [dataUrl(GIF, 'image/png'), 'invalid_image'],
      [dataUrl(Buffer.from('hello world, not an image')), 'invalid_image'],
      [dataUrl(Buffer.concat([PNG, Buffer.alloc(MAX)])), 'invalid_image'],
      ['ftp://example.com/x.png', 'invalid_image_url'],
      ['not a url', 'invalid_image_url'],
    ];
    for (const [url, code] of cases) {
      const e = await apiError(client.chat.completions.create({ model: 'assistant', messages: withImage(url) }));
      expect(e.status, url.slice(0, 60)).toBe(400);
      expect(e.error, url.slice(0, 60)).toMatchObject({ type: 'invalid_request_error', code, param: 'messages[0].content[1].image_url.url' });
    }
  });

  it('refuses private addresses, redirects to them, wrong content, too large and missing remote images', async () => {
    const cases: Array<[string, string]> = [
      ['http://10.0.0.1/cat.png', 'invalid_image_url'],
      ['http://[::1]:9/cat.png', 'invalid_image_url'],
      ['http://169.254.169.254/latest/meta-data', 'invalid_image_url'],
      [`${imageBase}/to-private`, 'invalid_image_url'],
      [`${imageBase}/missing.png`, 'invalid_image_url'],
      [`${imageBase}/page.html`, 'invalid_image'],
      [`${imageBase}/lying.png`, 'invalid_image'],
      [`${imageBase}/huge.png`, 'invalid_image_url'],
    ];
    for (const [url, code] of cases) {
      const e = await apiError(client.chat.completions.create({ model: 'assistant', messages: withImage(url) }));
      expect(e.status, url).toBe(400);
      expect(e.error, url).toMatchObject({ code, param: 'messages[0].content[1].image_url.url' });
    }
    // Another port on the allowed host is not allowed (the allow list is host:port).
    const other = imageBase.replace(/:\d+$/, ':1');
    const e = await apiError(client.chat.completions.create({ model: 'assistant', messages: withImage(`${other}/cat.png`) }));
    expect(e.error).toMatchObject({ code: 'invalid_image_url' });
    expect((e.error as { message?: string }).message).toMatch(/does not resolve to a public address/);
  });

  it('names the right part among several messages; images only in user messages; at most 8 URLs', async () => {
    const e = await apiError(
      client.chat.completions.create({
        model: 'assistant',
        messages: [{ role: 'system', content: 's' }, { role: 'user', content: [{ type: 'image_url', image_url: { url: dataUrl(PNG) } }, { type: 'text', text: 'x' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,@@' } }] }],
      }),
    );
    expect(e.error).toMatchObject({ param: 'messages[1].content[2].image_url.url' });
    const e2 = await apiError(client.chat.completions.create({ model: 'assistant', messages: [{ role: 'system', content: [{ type: 'image_url', image_url: { url: dataUrl(PNG) } }] as never }, { role: 'user', content: 'x' }] }));
    expect(e2.error).toMatchObject({ param: 'messages[0].content[0]' });
    const many = Array.from({ length: 9 }, () => ({ type: 'image_url' as const, image_url: { url: `${imageBase}/cat.png` } }));
    const before = fetches;
    const e3 = await apiError(client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: many }] }));
    expect(e3.error).toMatchObject({ param: 'messages[0].content[8].image_url.url' });
    expect(fetches).toBe(before);
  });
});

describe('image bytes are bounded per request and per process (issue 21 item 1)', () => {
  const parts = (urls: string[]) => urls.map((url) => ({ type: 'image_url' as const, image_url: { url } }));

  it('all images of one request over IMAGE_MAX_TOTAL_BYTES: 413 images_too_large naming the part, before decoding or calling the model', async () => {
    const calls = t.model.requests.length;
    const e = await apiError(client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }, ...parts(Array(4).fill(dataUrl(BIG)))] }] }));
    expect(e.status).toBe(413);
    expect(e.error).toMatchObject({ code: 'images_too_large', type: 'invalid_request_error', param: 'messages[0].content[4].image_url.url' });
    // Image URLs are counted at the size they turn out to have.
    const before = fetches;
    const e2 = await apiError(client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: parts(Array(4).fill(`${imageBase}/big.png`)) }] }));
    expect(e2.status).toBe(413);
    expect(e2.error).toMatchObject({ code: 'images_too_large' });
    expect(fetches).toBe(before + 4);
    // Eight of them: fetched a few at a time (what the remaining total allows), stopped at the one that crossed it.
    const before8 = fetches;
    const e8 = await apiError(client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: parts(Array(8).fill(`${imageBase}/big.png`)) }] }));
    expect(e8.status).toBe(413);
    expect(fetches - before8).toBe(4);
    // The Responses API's input_image the same.
    const e3 = await apiError(
      client.responses.create({ model: 'assistant', input: [{ role: 'user', content: Array(4).fill({ type: 'input_image', image_url: dataUrl(BIG), detail: 'auto' }) }] }),
    );
    expect(e3.status).toBe(413);
    expect(e3.error).toMatchObject({ code: 'images_too_large', param: 'input[0].content[3].image_url' });
    expect(t.model.requests.length).toBe(calls);
    // Three fit.
    const ok = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: [{ type: 'text', text: 'three' }, ...parts(Array(3).fill(dataUrl(BIG)))] }] });
    expect(ok.choices[0]!.message.content).toBe('Echo: three');
  });

  it('image bytes of requests in flight over IMAGE_MAX_INFLIGHT_BYTES: 503 images_busy with retry-after, free again once they are answered', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let arrived!: () => void;
    const atModel = new Promise<void>((r) => (arrived = r));
    t.model.setScript(async (req) => {
      if (lastUserText(req) === 'first') {
        arrived();
        await gate;
      }
      return echoScript(req);
    });
    // Holds 3 x 4000 bytes until the model answers.
    const first = client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: [{ type: 'text', text: 'first' }, ...parts(Array(3).fill(dataUrl(BIG)))] }] });
    await atModel;
    const calls = t.model.requests.length;
    const busy = await apiError(client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: [{ type: 'text', text: 'second' }, ...parts(Array(3).fill(dataUrl(BIG)))] }] }));
    expect(busy.status).toBe(503);
    expect(busy.error).toMatchObject({ code: 'images_busy' });
    expect(busy.headers?.get('retry-after')).toBe('1');
    expect(t.model.requests.length).toBe(calls);
    // A request without images is not held up, nor one whose images fit beside the first's.
    expect((await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: 'no images' }] })).choices[0]!.message.content).toBe('Echo: no images');
    const small = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: [{ type: 'text', text: 'small' }, ...parts([dataUrl(PNG)])] }] });
    expect(small.choices[0]!.message.content).toBe('Echo: small');
    release();
    expect((await first).choices[0]!.message.content).toBe('Echo: first');
    // Released: the same request now goes through, and again (nothing leaked).
    for (let i = 0; i < 3; i++) {
      const r = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: [{ type: 'text', text: 'second' }, ...parts(Array(3).fill(dataUrl(BIG)))] }] });
      expect(r.choices[0]!.message.content).toBe('Echo: second');
    }
  });

  it('refused and failed requests give their bytes back (a bad image among good ones, 20 times)', async () => {
    for (let i = 0; i < 20; i++) {
      const e = await apiError(client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: [...parts(Array(2).fill(dataUrl(BIG))), ...parts(['data:image/png;base64,@@@@'])] }] }));
      expect(e.error).toMatchObject({ code: 'invalid_image' });
    }
    const r = await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: [{ type: 'text', text: 'after' }, ...parts(Array(3).fill(dataUrl(BIG)))] }] });
    expect(r.choices[0]!.message.content).toBe('Echo: after');
  });

  it('traces keep a placeholder, not the image bytes (Studio store)', async () => {
    const img = Buffer.concat([PNG, Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 7919 + 13) % 251))]);
    const b64 = img.toString('base64');
    const marker = b64.slice(200, 260);
    await client.chat.completions.create({ model: 'assistant', messages: [{ role: 'user', content: [{ type: 'text', text: 'trace this picture' }, ...parts([dataUrl(img)])] }] });
    const db = t.system.ctx.db;
    const tables = (await db.query<{ t: string }>("select table_name as t from information_schema.tables where table_schema = 'mastra_observability'")).rows.map((r) => r.t);
    expect(tables.length).toBeGreaterThan(0);
    const rowsWith = async (needle: string) => {
      let n = 0;
      for (const table of tables) n += (await db.query<{ n: number }>(`select count(*)::int as n from mastra_observability."${table}" x where x::text like $1`, [`%${needle}%`])).rows[0]!.n;
      return n;
    };
    // The turn's spans are written (they hold the prompt text and the placeholder) ...
    for (let i = 0; i < 400 && (await rowsWith('trace this picture')) === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await rowsWith('trace this picture')).toBeGreaterThan(0);
    expect(await rowsWith('[image: image/png')).toBeGreaterThan(0);
    // ... and no span holds the image's bytes.
    expect(await rowsWith(marker)).toBe(0);
  });
});
