/**
 * Deterministic OpenAI-compatible LLM provider (the API surface LiteLLM, vLLM and Ollama share),
 * as a real HTTP server on 127.0.0.1.
 *
 * Routes (all need `Authorization: Bearer <apiKey>`; otherwise 401 with an OpenAI error body):
 *   GET  /v1/models              {"object":"list","data":[{id,object:"model",created,owned_by}]}
 *   GET  /v1/models/{id}         one model, or 404 `model_not_found`
 *   POST /v1/chat/completions    non-streaming `chat.completion`, or with `stream: true` an SSE
 *                                stream of `chat.completion.chunk` events ending in `data: [DONE]`
 *
 * The answer is a pure function of the request: `REPLY_PREFIX` followed by the text of the last
 * `user` message (string content, or the `text` parts of an array content), sent as one chunk per
 * word (each word with its trailing whitespace; the chunks concatenate to the full reply).
 * Token accounting: 1 token = 1 whitespace-separated word. `prompt_tokens` = words in the text of
 * every message; `completion_tokens` = words in the reply (= number of content chunks);
 * `total_tokens` = their sum. `max_tokens` / `max_completion_tokens` truncate the reply to that
 * many words with `finish_reason: "length"`.
 *
 * Streaming, as OpenAI: a first chunk with `delta: {role: "assistant", content: ""}`, one chunk
 * per word with `delta: {content}`, a chunk with `delta: {}` and `finish_reason`, then — when
 * `stream_options.include_usage` is true — a chunk with `choices: []` and `usage` (every earlier
 * chunk then carries `"usage": null`), and finally `data: [DONE]`.
 *
 * Slowness and faults:
 *   setChunkDelayMs(n)  waits n ms before each SSE event; a non-streaming answer waits
 *                       n × (words + 2) ms before answering (as long as the same stream
 *                       without the usage event).
 *   setFault(mode)      before anything is answered: 'hang' never answers, 'reset' destroys the
 *                       socket, 'malformed' answers 200 with invalid JSON (for a streaming request:
 *                       an SSE stream whose first event is not valid JSON, then `[DONE]`),
 *                       'error500' answers 500 with an OpenAI `server_error` body.
 *   setStreamFault({mode, afterEvents})  mid-stream failure of streaming requests, after
 *                       `afterEvents` SSE events were written (200 and headers already sent):
 *                       'reset' destroys the socket, 'error' writes an OpenAI-style
 *                       `data: {"error":{...,"code":500}}` event and ends the response without
 *                       `[DONE]` (how LiteLLM/vLLM report a provider failure mid-stream),
 *                       'hang' stops writing but keeps the connection open.
 *
 * Deviations: no tool calls, no `n > 1`, no logprobs; `created` is real time; ids are counters.
 */
import * as http from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { BodyTooLarge, closeServer, listen, readBody, sendJson } from './http-server';
import type { FaultMode, SandboxServer } from './types';

export const REPLY_PREFIX = 'Sandbox reply:';
export const DEFAULT_LLM_MODELS = ['sandbox-chat', 'sandbox-chat-mini'];

export interface RecordedRequest {
  method: string;
  /** Request target as received: path plus query string. */
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Request body as text, only when the request had one. */
  body?: string;
}

export interface LlmStreamFault {
  mode: 'reset' | 'error' | 'hang';
  /** Number of SSE events written before the fault strikes (0 = right after the headers). */
  afterEvents: number;
}

export interface LlmUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface LlmProviderOptions {
  port?: number;
  apiKey: string;
  models?: string[];
}

export interface LlmEmulator extends SandboxServer {
  setFault(mode: FaultMode): void;
  setStreamFault(fault: LlmStreamFault | null): void;
  setChunkDelayMs(ms: number): void;
  /** Every request that reached the server (bounded to the last MAX_LOG). */
  readonly requests: RecordedRequest[];
  /** Requests currently being handled (an SSE stream counts until it ends). */
  openRequests(): number;
  /** Number of chat completions answered successfully (streams counted when `[DONE]` was written). */
  completions(): number;
  clearRequests(): void;
}

/** The deterministic reply text for a user message. */
export function llmReplyFor(userText: string): string {
  const text = userText.trim();
  return text.length > 0 ? `${REPLY_PREFIX} ${text}` : `${REPLY_PREFIX} (empty message)`;
}

/** Word chunks of a text: each word with its trailing whitespace, concatenating to the text. */
export function llmWordChunks(text: string): string[] {
  return text.match(/\s*\S+\s*/g) ?? [];
}

/** Token count used for usage: whitespace-separated words. */
export function llmCountTokens(text: string): number {
  return (text.match(/\S+/g) ?? []).length;
}

const MAX_LOG = 500;
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const MODEL_CREATED = 1_700_000_000;

interface ChatMessage {
  role: string;
  content: unknown;
}

interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  stream: boolean;
  includeUsage: boolean;
  maxTokens: number | undefined;
}

export async function startLlmProvider(opts: LlmProviderOptions): Promise<LlmEmulator> {
  if (!opts.apiKey) throw new Error('llm-provider emulator: apiKey is required');
  const models = [...(opts.models ?? DEFAULT_LLM_MODELS)];
  const apiKeyDigest = sha256(opts.apiKey);
  let fault: FaultMode = 'none';
  let streamFault: LlmStreamFault | null = null;
  let chunkDelayMs = 0;
  let open = 0;
  let completions = 0;
  let sequence = 0;
  const requests: RecordedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();

  /**
   * A sleeper bound to one response: `sleep(ms)` resolves true after ms, or false as soon as the
   * response is closed (client gone, server closing). One 'close' listener per response.
   */
  function sleeper(res: http.ServerResponse): (ms: number) => Promise<boolean> {
    let pending: { timer: NodeJS.Timeout; resolve: (alive: boolean) => void } | undefined;
    res.once('close', () => {
      if (pending) {
        clearTimeout(pending.timer);
        timers.delete(pending.timer);
        pending.resolve(false);
        pending = undefined;
      }
    });
    return (ms: number) => {
      if (res.destroyed || res.writableEnded) return Promise.resolve(false);
      if (ms <= 0) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          timers.delete(timer);
          pending = undefined;
          resolve(!res.destroyed);
        }, ms);
        timers.add(timer);
        pending = { timer, resolve };
      });
    };
  }

  function authorized(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const header = req.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) {
      sendError(
        res,
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        'invalid_request_error',
        null,
      );
      return false;
    }
    if (!timingSafeEqual(sha256(match[1]), apiKeyDigest)) {
      const key = match[1];
      const hint = key.length > 8 ? `${key.slice(0, 3)}*****${key.slice(-4)}` : '*****';
      sendError(res, 401, `Incorrect API key provided: ${hint}.`, 'invalid_request_error', 'invalid_api_key');
      return false;
    }
    return true;
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): Promise<void> {
    const method = req.method ?? 'GET';
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname.replace(/\/+$/, '') || '/';

    if (!authorized(req, res)) return;

    if (path === '/v1/models') {
      if (method !== 'GET') return invalidUrl(res, method, path);
      return sendJson(res, 200, {
        object: 'list',
        data: models.map((id) => ({ id, object: 'model', created: MODEL_CREATED, owned_by: 'sandbox' })),
      });
    }
    const modelMatch = /^\/v1\/models\/(.+)$/.exec(path);
    if (modelMatch) {
      if (method !== 'GET') return invalidUrl(res, method, path);
      const id = safeDecode(modelMatch[1]);
      if (id === undefined || !models.includes(id)) {
        return sendError(
          res,
          404,
          `The model \`${id ?? modelMatch[1]}\` does not exist or you do not have access to it.`,
          'invalid_request_error',
          'model_not_found',
        );
      }
      return sendJson(res, 200, { id, object: 'model', created: MODEL_CREATED, owned_by: 'sandbox' });
    }
    if (path === '/v1/chat/completions') {
      if (method !== 'POST') return invalidUrl(res, method, path);
      const parsed = parseChatRequest(body);
      if ('error' in parsed) {
        return sendError(res, 400, parsed.error, 'invalid_request_error', null, parsed.param);
      }
      if (!models.includes(parsed.model)) {
        return sendError(res, 404, `The model \`${parsed.model}\` does not exist or you do not have access to it.`, 'invalid_request_error', 'model_not_found');
      }
      return parsed.stream ? stream(res, parsed) : complete(res, parsed);
    }
    return invalidUrl(res, method, path);
  }

  function answerFor(chat: ChatRequest) {
    const lastUser = [...chat.messages].reverse().find((m) => m.role === 'user');
    const reply = llmReplyFor(lastUser ? contentText(lastUser.content) : '');
    let words = llmWordChunks(reply);
    let finishReason: 'stop' | 'length' = 'stop';
    if (chat.maxTokens !== undefined && words.length > chat.maxTokens) {
      words = words.slice(0, chat.maxTokens);
      finishReason = 'length';
    }
    const promptTokens = chat.messages.reduce((sum, m) => sum + llmCountTokens(contentText(m.content)), 0);
    const usage: LlmUsage = {
      prompt_tokens: promptTokens,
      completion_tokens: words.length,
      total_tokens: promptTokens + words.length,
    };
    sequence += 1;
    return {
      id: `chatcmpl-sandbox${String(sequence).padStart(8, '0')}`,
      created: Math.floor(Date.now() / 1000),
      words,
      content: words.join(''),
      finishReason,
      usage,
    };
  }

  async function complete(res: http.ServerResponse, chat: ChatRequest): Promise<void> {
    const answer = answerFor(chat);
    // As slow as the equivalent stream: role event + word events + finish event (+ usage event).
    const events = answer.words.length + 2;
    if (!(await sleeper(res)(chunkDelayMs * events))) return;
    sendJson(res, 200, {
      id: answer.id,
      object: 'chat.completion',
      created: answer.created,
      model: chat.model,
      system_fingerprint: 'fp_sandbox',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: answer.content, refusal: null },
          logprobs: null,
          finish_reason: answer.finishReason,
        },
      ],
      usage: answer.usage,
    });
    completions += 1;
  }

  function stream(res: http.ServerResponse, chat: ChatRequest): void {
    const answer = answerFor(chat);
    const base = {
      id: answer.id,
      object: 'chat.completion.chunk',
      created: answer.created,
      model: chat.model,
      system_fingerprint: 'fp_sandbox',
    };
    const usageNull = chat.includeUsage ? { usage: null } : {};
    // The word events, the bulk of a stream, are rendered from a prefix and a suffix around the word: the same
    // text as JSON.stringify({ ...base, choices: [{ index: 0, delta: { content: word }, logprobs: null,
    // finish_reason: null }], ...usageNull }), without an object per word (cheap enough for 1,000 streams at once).
    const wordPrefix = `${JSON.stringify(base).slice(0, -1)},"choices":[{"index":0,"delta":{"content":`;
    const wordSuffix = `},"logprobs":null,"finish_reason":null}]${chat.includeUsage ? ',"usage":null' : ''}}`;
    const events: string[] = [
      JSON.stringify({
        ...base,
        choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }],
        ...usageNull,
      }),
      ...answer.words.map((word) => wordPrefix + JSON.stringify(word) + wordSuffix),
      JSON.stringify({
        ...base,
        choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: answer.finishReason }],
        ...usageNull,
      }),
    ];
    if (chat.includeUsage) events.push(JSON.stringify({ ...base, choices: [], usage: answer.usage }));
    events.push('[DONE]');

    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-request-id': answer.id,
    });
    res.flushHeaders();
    const planned = streamFault;
    const delay = chunkDelayMs;
    const open = () => !res.destroyed && !res.writableEnded;
    let i = 0;
    /** Before event i (and after the last one): strikes a planned fault, or ends the stream; true when event i is due. */
    const due = (): boolean => {
      if (planned && i === planned.afterEvents) {
        strikeStreamFault(res, planned);
        return false;
      }
      if (i < events.length) return true;
      if (planned && planned.afterEvents >= events.length) {
        strikeStreamFault(res, planned);
        return false;
      }
      res.end();
      completions += 1;
      return false;
    };
    if (delay <= 0) {
      while (due() && open()) res.write(`data: ${events[i++]}\n\n`);
      return;
    }
    // The delay comes before each event. One timer per stream, re-armed with refresh() (not a promise and a
    // new timer per event: cheap enough for 1,000 streams at once).
    if (!due()) return;
    const timer = setTimeout(() => {
      if (open()) {
        res.write(`data: ${events[i++]}\n\n`);
        if (due()) {
          timer.refresh();
          return;
        }
      }
      timers.delete(timer);
    }, delay);
    timers.add(timer);
    res.once('close', () => {
      clearTimeout(timer);
      timers.delete(timer);
    });
  }

  function strikeStreamFault(res: http.ServerResponse, planned: LlmStreamFault): void {
    switch (planned.mode) {
      case 'reset':
        res.socket?.destroy();
        res.destroy();
        return;
      case 'error':
        res.end(
          `data: ${JSON.stringify({
            error: {
              message: 'The server had an error while processing your request. Sorry about that!',
              type: 'server_error',
              param: null,
              code: 500,
            },
          })}\n\n`,
        );
        return;
      case 'hang':
        // Keep the connection open without writing anything more.
        return;
    }
  }

  function applyFault(req: http.IncomingMessage, res: http.ServerResponse, body: string): boolean {
    switch (fault) {
      case 'none':
        return false;
      case 'hang':
        return true;
      case 'reset':
        req.socket.destroy();
        return true;
      case 'malformed':
        if (/"stream"\s*:\s*true/.test(body)) {
          res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
          res.end('data: {"id":"chatcmpl-sandbox","object":"chat.completion.chunk","choices":[{"delta":{"content":\n\ndata: [DONE]\n\n');
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{"id":"chatcmpl-sandbox","object":"chat.completion","choices":[{"message":');
        }
        return true;
      case 'error500':
        sendError(res, 500, 'The server had an error while processing your request. Sorry about that!', 'server_error', null);
        return true;
    }
  }

  const server = http.createServer((req, res) => {
    open += 1;
    let counted = true;
    res.on('close', () => {
      if (counted) {
        counted = false;
        open -= 1;
      }
    });
    readBody(req, MAX_BODY_BYTES)
      .then((body) => {
        const entry: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', headers: { ...req.headers } };
        if (body.length > 0) entry.body = body;
        requests.push(entry);
        if (requests.length > MAX_LOG) requests.splice(0, requests.length - MAX_LOG);
        if (applyFault(req, res, body)) return;
        return handle(req, res, body);
      })
      .catch((err: unknown) => {
        if (err instanceof BodyTooLarge) {
          return sendError(res, 413, 'Request body too large.', 'invalid_request_error', null);
        }
        if (!res.headersSent) {
          sendError(res, 500, `Internal error: ${String(err)}`, 'server_error', null);
        } else {
          res.destroy();
        }
      });
  });

  const url = await listen(server, opts.port, 'llm-provider');

  return {
    url,
    get requests() {
      return requests;
    },
    setFault(mode: FaultMode) {
      fault = mode;
    },
    setStreamFault(next: LlmStreamFault | null) {
      streamFault = next ? { ...next } : null;
    },
    setChunkDelayMs(ms: number) {
      chunkDelayMs = Math.max(0, ms);
    },
    openRequests: () => open,
    completions: () => completions,
    clearRequests() {
      requests.length = 0;
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await closeServer(server);
    },
  };
}

function parseChatRequest(body: string): ChatRequest | { error: string; param: string | null } {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return {
      error:
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
      param: null,
    };
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    return { error: 'The request body must be a JSON object.', param: null };
  }
  const v = value as Record<string, unknown>;
  if (typeof v.model !== 'string' || v.model.length === 0) {
    return { error: 'you must provide a model parameter', param: 'model' };
  }
  if (!Array.isArray(v.messages) || v.messages.length === 0) {
    return { error: "Missing required parameter: 'messages'.", param: 'messages' };
  }
  const messages: ChatMessage[] = [];
  for (let i = 0; i < v.messages.length; i += 1) {
    const m = v.messages[i] as unknown;
    if (!m || typeof m !== 'object' || typeof (m as { role?: unknown }).role !== 'string') {
      return { error: `Missing required parameter: 'messages[${i}].role'.`, param: `messages[${i}].role` };
    }
    const role = (m as { role: string }).role;
    if (!['system', 'developer', 'user', 'assistant', 'tool', 'function'].includes(role)) {
      return {
        error: `Invalid value: '${role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.`,
        param: `messages[${i}].role`,
      };
    }
    messages.push({ role, content: (m as { content?: unknown }).content });
  }
  if (v.stream !== undefined && v.stream !== null && typeof v.stream !== 'boolean') {
    return { error: "Invalid type for 'stream': expected a boolean.", param: 'stream' };
  }
  const maxRaw = v.max_completion_tokens ?? v.max_tokens;
  let maxTokens: number | undefined;
  if (maxRaw !== undefined && maxRaw !== null) {
    if (typeof maxRaw !== 'number' || !Number.isInteger(maxRaw) || maxRaw < 1) {
      return { error: 'max_tokens must be a positive integer.', param: 'max_tokens' };
    }
    maxTokens = maxRaw;
  }
  const streamOptions = v.stream_options as { include_usage?: unknown } | undefined | null;
  return {
    model: v.model,
    messages,
    stream: v.stream === true,
    includeUsage: v.stream === true && streamOptions?.include_usage === true,
    maxTokens,
  };
}

/** Text of a message content: a string, or the `text` of each `{type:"text"}` part joined by spaces. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => (part && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string' ? (part as { text: string }).text : ''))
      .filter((t) => t.length > 0)
      .join(' ');
  }
  return '';
}

function invalidUrl(res: http.ServerResponse, method: string, path: string): void {
  sendError(res, 404, `Invalid URL (${method} ${path})`, 'invalid_request_error', null);
}

function sendError(res: http.ServerResponse, status: number, message: string, type: string, code: string | null, param: string | null = null): void {
  sendJson(res, status, { error: { message, type, param, code } });
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}
