import { DEFAULT_LLM_MODELS, llmReplyFor, llmWordChunks, startLlmProvider } from '../../sandbox/llm-provider';
import type { LlmEmulator } from '../../sandbox/llm-provider';
import { waitUntil } from '../support/net';

const API_KEY = 'sk-sandbox-test-0123456789';

interface Chunk {
  id: string;
  object: string;
  model: string;
  choices: Array<{ index: number; delta: { role?: string; content?: string }; finish_reason: string | null }>;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
  error?: { message: string; type: string; code: number };
}

/** Parses an SSE body into its `data:` payloads. */
function sseData(text: string): string[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim().length > 0)
    .map((block) => {
      expect(block.startsWith('data: ')).toBe(true);
      return block.slice('data: '.length);
    });
}

describe('LLM provider emulator (OpenAI-compatible)', () => {
  let llm: LlmEmulator;
  const auth = { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' };
  const chat = (body: unknown, headers: Record<string, string> = auth, signal?: AbortSignal) =>
    fetch(`${llm.url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify(body), signal });

  beforeEach(async () => {
    llm = await startLlmProvider({ apiKey: API_KEY });
  });
  afterEach(async () => {
    await llm.close();
  });

  it('lists its models', async () => {
    const res = await fetch(`${llm.url}/v1/models`, { headers: auth });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { object: string; data: Array<{ id: string; object: string; owned_by: string }> };
    expect(body.object).toBe('list');
    expect(body.data.map((m) => m.id)).toEqual(DEFAULT_LLM_MODELS);
    expect(body.data.every((m) => m.object === 'model')).toBe(true);

    const one = await fetch(`${llm.url}/v1/models/${DEFAULT_LLM_MODELS[0]}`, { headers: auth });
    expect(((await one.json()) as { id: string }).id).toBe(DEFAULT_LLM_MODELS[0]);
    const none = await fetch(`${llm.url}/v1/models/nope`, { headers: auth });
    expect(none.status).toBe(404);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('model_not_found');
  });

  it('honours a custom model list', async () => {
    await llm.close();
    llm = await startLlmProvider({ apiKey: API_KEY, models: ['m-1'] });
    const body = (await (await fetch(`${llm.url}/v1/models`, { headers: auth })).json()) as { data: Array<{ id: string }> };
    expect(body.data.map((m) => m.id)).toEqual(['m-1']);
  });

  it('requires the API key as a Bearer token (OpenAI 401 shape)', async () => {
    const missing = await fetch(`${llm.url}/v1/models`);
    expect(missing.status).toBe(401);
    const m = (await missing.json()) as { error: { message: string; type: string; code: string | null; param: null } };
    expect(m.error.type).toBe('invalid_request_error');
    expect(m.error.message).toContain("didn't provide an API key");

    const wrong = await chat({ model: DEFAULT_LLM_MODELS[0], messages: [{ role: 'user', content: 'hi' }] }, { authorization: 'Bearer sk-wrong-key-123456' });
    expect(wrong.status).toBe(401);
    const w = (await wrong.json()) as { error: { code: string; message: string } };
    expect(w.error.code).toBe('invalid_api_key');
    expect(w.error.message).not.toContain('sk-wrong-key-123456');
    expect(llm.requests.map((r) => r.headers.authorization)).toEqual([undefined, 'Bearer sk-wrong-key-123456']);
  });

  it('answers non-streaming completions deterministically with word-count usage', async () => {
    const body = {
      model: DEFAULT_LLM_MODELS[0],
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'first question' },
        { role: 'assistant', content: 'first answer' },
        { role: 'user', content: [{ type: 'text', text: 'What is   Trino?' }] },
      ],
    };
    const res = await chat(body);
    expect(res.status).toBe(200);
    const out = (await res.json()) as {
      object: string;
      model: string;
      choices: Array<{ message: { role: string; content: string }; finish_reason: string }>;
      usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
    };
    expect(out.object).toBe('chat.completion');
    expect(out.model).toBe(DEFAULT_LLM_MODELS[0]);
    expect(out.choices[0].message).toMatchObject({ role: 'assistant', content: 'Sandbox reply: What is   Trino?' });
    expect(out.choices[0].finish_reason).toBe('stop');
    // prompt: 3 + 2 + 2 + 3 words; completion: "Sandbox reply: What is Trino?" = 5 words.
    expect(out.usage).toEqual({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 });

    const again = (await (await chat(body)).json()) as { choices: Array<{ message: { content: string } }> };
    expect(again.choices[0].message.content).toBe(out.choices[0].message.content);
    expect(llm.completions()).toBe(2);
  });

  it('streams word chunks, a finish chunk, a usage chunk and [DONE]', async () => {
    const res = await chat({
      model: DEFAULT_LLM_MODELS[1],
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'tell me about tables' }],
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const data = sseData(await res.text());
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as Chunk);
    const words = llmWordChunks(llmReplyFor('tell me about tables'));
    // role chunk + one per word + finish chunk + usage chunk
    expect(chunks).toHaveLength(words.length + 3);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === DEFAULT_LLM_MODELS[1])).toBe(true);
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    const content = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(content).toBe('Sandbox reply: tell me about tables');
    expect(chunks.slice(1, 1 + words.length).map((c) => c.choices[0].delta.content)).toEqual(words);
    const finish = chunks[words.length + 1];
    expect(finish.choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' });
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    const usage = chunks.at(-1) as Chunk;
    expect(usage.choices).toEqual([]);
    expect(usage.usage).toEqual({ prompt_tokens: 4, completion_tokens: 6, total_tokens: 10 });
    expect(llm.completions()).toBe(1);
  });

  it('streams without a usage chunk unless include_usage is set', async () => {
    const res = await chat({ model: DEFAULT_LLM_MODELS[0], stream: true, messages: [{ role: 'user', content: 'hello' }] });
    const data = sseData(await res.text());
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as Chunk);
    expect(chunks.every((c) => !('usage' in c))).toBe(true);
    expect(chunks.at(-1)?.choices[0].finish_reason).toBe('stop');
  });

  it('truncates to max_tokens words with finish_reason length', async () => {
    const res = await chat({ model: DEFAULT_LLM_MODELS[0], max_tokens: 3, messages: [{ role: 'user', content: 'one two three four' }] });
    const out = (await res.json()) as { choices: Array<{ message: { content: string }; finish_reason: string }>; usage: { completion_tokens: number } };
    expect(out.choices[0].message.content).toBe('Sandbox reply: one ');
    expect(out.choices[0].finish_reason).toBe('length');
    expect(out.usage.completion_tokens).toBe(3);
  });

  it('rejects invalid requests with OpenAI errors', async () => {
    const noModel = await chat({ messages: [{ role: 'user', content: 'x' }] });
    expect(noModel.status).toBe(400);
    expect(((await noModel.json()) as { error: { param: string } }).error.param).toBe('model');
    const unknown = await chat({ model: 'gpt-nope', messages: [{ role: 'user', content: 'x' }] });
    expect(unknown.status).toBe(404);
    const noMessages = await chat({ model: DEFAULT_LLM_MODELS[0], messages: [] });
    expect(noMessages.status).toBe(400);
    const badJson = await fetch(`${llm.url}/v1/chat/completions`, { method: 'POST', headers: auth, body: '{' });
    expect(badJson.status).toBe(400);
    const badUrl = await fetch(`${llm.url}/v1/embeddings`, { method: 'POST', headers: auth, body: '{}' });
    expect(badUrl.status).toBe(404);
    expect(((await badUrl.json()) as { error: { message: string } }).error.message).toBe('Invalid URL (POST /v1/embeddings)');
  });

  it('can be made slow with setChunkDelayMs, streaming and not: a client that gives up sooner gets no more, and the rest is never sent', async () => {
    const ask = { model: DEFAULT_LLM_MODELS[0], messages: [{ role: 'user', content: 'a b c' }] };
    // Slow, but whole: 1 role + 5 words + 1 finish + [DONE] events, and the same answer not streamed.
    llm.setChunkDelayMs(30);
    const streamed = sseData(await (await chat({ ...ask, stream: true })).text());
    expect(streamed).toHaveLength(8);
    expect(streamed.at(-1)).toBe('[DONE]');
    const whole = (await (await chat(ask)).json()) as { choices: Array<{ message: { content: string } }> };
    expect(whole.choices[0].message.content).toBe('Sandbox reply: a b c');
    const completed = llm.completions();

    // The emulator's delays and the client's timeout are timers of this one process, which fire in the order they
    // are due whatever the machine's load: what the client got is decided by the delay, not by a wall-clock bound.
    llm.setChunkDelayMs(200);
    // Not streamed, the answer waits 7 × 200 ms: a client giving up after 100 ms has nothing.
    await expect(chat(ask, auth, AbortSignal.timeout(100)).then((r) => r.json())).rejects.toThrow();
    await waitUntil(() => llm.openRequests() === 0);
    // Streamed, each event waits 200 ms: a client giving up after 500 ms has at most 2 of the 8 events.
    let received = '';
    await expect(
      (async () => {
        const res = await chat({ ...ask, stream: true }, auth, AbortSignal.timeout(500));
        for await (const chunk of res.body as ReadableStream<Uint8Array>) received += Buffer.from(chunk).toString('utf8');
      })(),
    ).rejects.toThrow();
    expect(sseData(received).length).toBeLessThanOrEqual(2);
    await waitUntil(() => llm.openRequests() === 0);
    expect(llm.completions()).toBe(completed);
  });

  it('counts an open stream until it ends and stops writing when the client goes away', async () => {
    llm.setChunkDelayMs(50);
    const controller = new AbortController();
    const res = await chat({ model: DEFAULT_LLM_MODELS[0], stream: true, messages: [{ role: 'user', content: 'a long answer please' }] }, auth, controller.signal);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    expect(llm.openRequests()).toBe(1);
    controller.abort();
    await waitUntil(() => llm.openRequests() === 0);
    expect(llm.completions()).toBe(0);
  });

  it('mid-stream faults: reset after N events, error event, hang', async () => {
    const body = { model: DEFAULT_LLM_MODELS[0], stream: true, messages: [{ role: 'user', content: 'stream me something' }] };

    llm.setStreamFault({ mode: 'reset', afterEvents: 2 });
    const reset = await chat(body);
    expect(reset.status).toBe(200);
    await expect(reset.text()).rejects.toThrow();

    llm.setStreamFault({ mode: 'error', afterEvents: 1 });
    const errored = await chat(body);
    expect(errored.status).toBe(200);
    const data = sseData(await errored.text());
    expect(data).toHaveLength(2);
    expect(JSON.parse(data[0]).choices[0].delta.role).toBe('assistant');
    expect(JSON.parse(data[1])).toEqual({
      error: { message: expect.any(String), type: 'server_error', param: null, code: 500 },
    });

    llm.setStreamFault({ mode: 'hang', afterEvents: 3 });
    const giveUp = new AbortController();
    const hung = await chat(body, auth, giveUp.signal);
    let received = '';
    const reading = (async () => {
      for await (const chunk of hung.body as ReadableStream<Uint8Array>) received += Buffer.from(chunk).toString('utf8');
    })();
    // Three events, then the stream stays open (no end, no error) until the client gives up.
    await waitUntil(() => sseData(received).length === 3);
    expect(llm.openRequests()).toBe(1);
    giveUp.abort();
    await expect(reading).rejects.toThrow();
    expect(sseData(received)).toHaveLength(3);
    await waitUntil(() => llm.openRequests() === 0);

    llm.setStreamFault(null);
    const ok = sseData(await (await chat(body)).text());
    expect(ok.at(-1)).toBe('[DONE]');
    expect(llm.completions()).toBe(1);
  });

  it('injects request-level faults: hang, reset, malformed, error500', async () => {
    const body = { model: DEFAULT_LLM_MODELS[0], messages: [{ role: 'user', content: 'x' }] };
    llm.setFault('hang');
    const giveUp = new AbortController();
    const hung = chat(body, auth, giveUp.signal);
    // The request is held open, unanswered, until the client gives up.
    await waitUntil(() => llm.openRequests() === 1);
    giveUp.abort();
    await expect(hung).rejects.toMatchObject({ name: 'AbortError' });
    await waitUntil(() => llm.openRequests() === 0);

    llm.setFault('reset');
    await expect(chat(body)).rejects.toThrow();

    llm.setFault('malformed');
    const malformed = await chat(body);
    expect(malformed.status).toBe(200);
    await expect(malformed.json()).rejects.toThrow();
    const malformedStream = await chat({ ...body, stream: true });
    expect(malformedStream.headers.get('content-type')).toContain('text/event-stream');
    const firstEvent = sseData(await malformedStream.text())[0];
    expect(() => JSON.parse(firstEvent)).toThrow();

    llm.setFault('error500');
    const e500 = await chat(body);
    expect(e500.status).toBe(500);
    expect(((await e500.json()) as { error: { type: string } }).error.type).toBe('server_error');

    llm.setFault('none');
    expect((await chat(body)).status).toBe(200);
    expect(llm.requests.every((r) => r.path === '/v1/chat/completions' && r.method === 'POST')).toBe(true);
    expect(llm.requests[0].body).toBe(JSON.stringify(body));
  });
});
