import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChatCompletionCreateParamsStreaming } from 'openai/resources/chat/completions';
import type { AppConfig } from '../config/app-config';
import { modelSettingsFor, parseModelSettings, type LlmModelSettingsOverrides } from '../config/llm-model-settings';
import { chatCompletionBody, LlmProvider, type ChatCompletionBody, type LlmChatRequest } from './llm-provider';

// Type-level checks, compiled by tsc (npm run typecheck): the request the BFF sends is a request the
// official `openai` SDK can send, and names no field the SDK does not know.
const _sdkAccepts = (body: ChatCompletionBody): ChatCompletionCreateParamsStreaming => body;
type FieldsTheSdkDoesNotKnow = Exclude<keyof ChatCompletionBody, keyof ChatCompletionCreateParamsStreaming>;
const _noUnknownFields: [FieldsTheSdkDoesNotKnow] extends [never] ? true : false = true;
void _sdkAccepts;
void _noUnknownFields;

const request = (model: string): LlmChatRequest => ({ model, messages: [{ role: 'user', content: 'hi' }], temperature: 0.2, maxTokens: 256 });
const bodyFor = (model: string, overrides: LlmModelSettingsOverrides = {}) => chatCompletionBody(request(model), modelSettingsFor(model, overrides, 30_000));

describe('chat-completions request shape per model', () => {
  it('OpenAI reasoning models (o1, o3, o4, gpt-5, also behind a provider prefix): max_completion_tokens and no temperature', () => {
    for (const model of ['o1', 'o1-mini', 'o3-mini', 'o4-mini-2025-04-16', 'gpt-5', 'gpt-5-nano', 'openai/o3', 'azure/gpt-5-mini']) {
      const body = bodyFor(model);
      expect([model, body]).toEqual([
        model,
        { model, messages: [{ role: 'user', content: 'hi' }], stream: true, max_completion_tokens: 256, stream_options: { include_usage: true } },
      ]);
    }
  });

  it('other models: max_tokens and temperature (what every OpenAI-compatible server takes)', () => {
    for (const model of ['gpt-4o', 'gpt-4.1-mini', 'llama3.1:8b', 'mistral-large', 'o1ne-custom', 'gpt-50x']) {
      expect([model, bodyFor(model)]).toEqual([
        model,
        { model, messages: [{ role: 'user', content: 'hi' }], stream: true, temperature: 0.2, max_tokens: 256, stream_options: { include_usage: true } },
      ]);
    }
  });

  it('LLM_MODEL_SETTINGS: an exact id wins over a family, a longer family over a shorter one; unset fields keep the default', () => {
    const overrides = parseModelSettings(
      JSON.stringify({
        'azure-*': { streamOptions: false },
        'azure-gpt-4o*': { tokenParameter: 'max_completion_tokens' },
        'azure-gpt-4o-2024': { temperature: false },
        'o3*': { idleTimeoutMs: 180000 },
      }),
      [],
    );
    expect(bodyFor('azure-gpt-35', overrides)).toEqual({ model: 'azure-gpt-35', messages: expect.any(Array), stream: true, temperature: 0.2, max_tokens: 256 });
    expect(bodyFor('azure-gpt-4o-mini', overrides)).toEqual({
      model: 'azure-gpt-4o-mini',
      messages: expect.any(Array),
      stream: true,
      temperature: 0.2,
      max_completion_tokens: 256,
    });
    expect(bodyFor('azure-gpt-4o-2024', overrides)).toEqual({ model: 'azure-gpt-4o-2024', messages: expect.any(Array), stream: true, max_completion_tokens: 256 });
    expect(modelSettingsFor('o3-mini', overrides, 30_000)).toEqual({
      tokenParameter: 'max_completion_tokens',
      temperature: false,
      streamOptions: true,
      idleTimeoutMs: 180000,
    });
    expect(modelSettingsFor('gpt-4o', overrides, 30_000).idleTimeoutMs).toBe(30_000);
  });

  it('LLM_MODEL_SETTINGS problems are all reported, each with its key and the allowed values, never the value', () => {
    const problems: Array<{ key: string; rule: string }> = [];
    parseModelSettings(
      JSON.stringify({
        'o3*': { tokenParameter: 'max_toks', temperature: 'no', idleTimeoutMs: 5, colour: 'red' },
        'a*b': {},
        'gpt-4o': 'fast',
      }),
      problems,
    );
    expect(problems).toEqual([
      { key: 'LLM_MODEL_SETTINGS["o3*"].colour', rule: 'is not a setting (allowed: tokenParameter, temperature, streamOptions, idleTimeoutMs)' },
      { key: 'LLM_MODEL_SETTINGS["o3*"].tokenParameter', rule: 'must be one of: max_tokens, max_completion_tokens' },
      { key: 'LLM_MODEL_SETTINGS["o3*"].temperature', rule: 'must be one of: true, false' },
      { key: 'LLM_MODEL_SETTINGS["o3*"].idleTimeoutMs', rule: 'must be an integer from 100 to 600000' },
      { key: 'LLM_MODEL_SETTINGS["a*b"]', rule: 'must be a model id, or a family: a prefix followed by one trailing *' },
      { key: 'LLM_MODEL_SETTINGS["gpt-4o"]', rule: 'must be an object with some of: tokenParameter, temperature, streamOptions, idleTimeoutMs' },
    ]);
    const notJson: Array<{ key: string; rule: string }> = [];
    parseModelSettings('{o3: fast}', notJson);
    expect(notJson).toEqual([{ key: 'LLM_MODEL_SETTINGS', rule: 'must be a JSON object keyed by model id or family (e.g. "o3*")' }]);
  });
});

/** LlmProvider against a recording OpenAI-compatible server on loopback: what a real provider receives. */
describe('LlmProvider sends each model the request it takes', () => {
  let server: http.Server;
  let base: string;
  const received: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end('data: {"choices":[{"index":0,"delta":{"content":"ok"}}]}\n\ndata: [DONE]\n\n');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('o3-mini gets max_completion_tokens and no temperature; gpt-4o gets max_tokens and temperature', async () => {
    const config = { llm: { baseUrl: base, models: ['o3-mini', 'gpt-4o'], timeoutMs: 5000, modelSettings: {} } } as unknown as AppConfig;
    const provider = new LlmProvider(config);
    try {
      const deltas: string[] = [];
      await provider.stream(request('o3-mini'), { onDelta: (d) => void deltas.push(d) });
      await provider.stream(request('gpt-4o'), { onDelta: (d) => void deltas.push(d) });
      expect(deltas.join('')).toBe('okok');
    } finally {
      provider.onApplicationShutdown();
    }
    expect(received.at(-2)).toEqual({
      model: 'o3-mini',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      max_completion_tokens: 256,
      stream_options: { include_usage: true },
    });
    expect(received.at(-1)).toMatchObject({ model: 'gpt-4o', temperature: 0.2, max_tokens: 256 });
  });
});
