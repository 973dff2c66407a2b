import * as http from 'node:http';
import type { IncomingMessage } from 'node:http';
import * as https from 'node:https';
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';

export interface LlmChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface LlmChatRequest {
  model: string;
  messages: LlmChatMessage[];
  temperature: number;
  maxTokens: number;
}

/** OpenAI's usage object; `estimated` when the provider sent none and the BFF counted ~4 characters per token. */
export interface LlmUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  estimated?: boolean;
}

export type LlmStreamEvent = { type: 'delta'; content: string } | { type: 'usage'; usage: LlmUsage };

export type LlmFailureReason = 'upstream_unavailable' | 'upstream_timeout' | 'upstream_error';

/** A provider failure, in the BFF's words. The detail never quotes the provider's answer (it may echo the key). */
export class LlmProviderError extends Error {
  constructor(
    readonly reason: LlmFailureReason,
    readonly detail: string,
    readonly status?: number,
    /** The network error code (ECONNREFUSED, ECONNRESET...), for the log only. */
    readonly code?: string,
  ) {
    super(detail);
    this.name = 'LlmProviderError';
  }
}

/** Rough token count for providers that report no usage: ~4 characters per token. */
export const estimateTokens = (text: string): number => Math.ceil(text.length / 4);

const TIMED_OUT = Symbol('llm-timeout');

/**
 * The one client of the LLM provider (OpenAI-compatible chat completions: OpenAI, LiteLLM, vLLM,
 * Ollama...). LLM_BASE_URL is the API base including its version path (e.g. http://litellm:4000/v1);
 * LLM_API_KEY, when set, is sent as a bearer token to that base only.
 *
 * Streaming only: `stream()` yields each content delta as it arrives and the usage at the end.
 * LLM_TIMEOUT_MS bounds the wait for the response headers and for every next event. Failures are
 * LlmProviderError with a stable reason; the provider's own error bodies are drained, never logged
 * or forwarded, because providers echo (parts of) the API key in them.
 */
@Injectable()
export class LlmProvider implements OnApplicationShutdown {
  private readonly log = new Logger('LlmProvider');
  private readonly endpoint?: URL;
  /** Keep-alive connections to the provider (node:http: less latency per streamed event than fetch's web streams). */
  private readonly agent?: http.Agent;
  private readonly transport: typeof http | typeof https = http;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    if (config.llm.baseUrl) {
      this.endpoint = new URL(`${config.llm.baseUrl}/chat/completions`);
      this.transport = this.endpoint.protocol === 'https:' ? https : http;
      this.agent = new this.transport.Agent({ keepAlive: true, maxSockets: Infinity, scheduling: 'lifo' });
    }
  }

  get configured(): boolean {
    return this.endpoint !== undefined;
  }

  onApplicationShutdown(): void {
    this.agent?.destroy();
  }

  /**
   * Streams one chat completion: one delta per read from the provider (the content of every event
   * that arrived in it), then the usage. `signal` cancels it (the caller's reason is rethrown as is);
   * the generator's `return()` (breaking out of `for await`) cancels the provider request too.
   */
  async *stream(req: LlmChatRequest, signal?: AbortSignal): AsyncGenerator<LlmStreamEvent, void, undefined> {
    if (!this.endpoint) throw new LlmProviderError('upstream_unavailable', 'no LLM provider is configured (LLM_BASE_URL)');
    if (signal?.aborted) throw signal.reason;
    const abort = new AbortController();
    const onCallerAbort = () => abort.abort(signal?.reason);
    signal?.addEventListener('abort', onCallerAbort, { once: true });
    const timer = setTimeout(() => abort.abort(TIMED_OUT), this.config.llm.timeoutMs);
    const started = Date.now();
    const body = JSON.stringify({
      model: req.model,
      messages: req.messages,
      temperature: req.temperature,
      max_tokens: req.maxTokens,
      stream: true,
      stream_options: { include_usage: true },
    });
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      accept: 'text/event-stream',
      'content-length': Buffer.byteLength(body),
    };
    if (this.config.llm.apiKey) headers.authorization = `Bearer ${this.config.llm.apiKey}`;
    let res: IncomingMessage | undefined;
    let completion = '';
    let usage: LlmUsage | undefined;
    try {
      try {
        res = await new Promise<IncomingMessage>((resolve, reject) => {
          const request = this.transport.request(this.endpoint!, { method: 'POST', agent: this.agent, headers, signal: abort.signal }, resolve);
          request.on('error', reject);
          request.end(body);
        });
      } catch (err) {
        throw this.failure(err, abort.signal, signal);
      }
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        res.resume(); // drained, never read: providers echo (parts of) the key in their errors
        throw this.statusFailure(status, req.model);
      }
      timer.refresh();
      res.setEncoding('utf8');

      let buffer = '';
      let finished = false;
      let sawFinish = false;
      try {
        // Read to the end even after [DONE] (which providers follow with the end of the response at once):
        // leaving the loop early would destroy the response and with it a reusable keep-alive connection.
        for await (const chunk of res as AsyncIterable<string>) {
          timer.refresh();
          if (finished) continue;
          buffer += chunk;
          // Deltas of the events that arrived together go out together (one frame, not one per event):
          // no event waits for another, and a BFF under load writes fewer, larger frames.
          let content = '';
          let broken: unknown;
          let boundary: number;
          while ((boundary = nextEventEnd(buffer)) >= 0) {
            const event = buffer.slice(0, boundary);
            buffer = buffer.slice(boundary);
            const data = eventData(event);
            if (data === undefined) continue;
            if (data === '[DONE]') {
              finished = true;
              buffer = '';
              break;
            }
            let parsed: ParsedChunk;
            try {
              parsed = parseChunk(data);
            } catch (err) {
              broken = err; // after the content that came before it
              break;
            }
            if (parsed.usage) usage = parsed.usage;
            if (parsed.finish) sawFinish = true;
            if (parsed.content) content += parsed.content;
          }
          if (content) {
            completion += content;
            yield { type: 'delta', content };
          }
          if (broken) throw broken;
        }
      } catch (err) {
        throw this.failure(err, abort.signal, signal, 'the LLM provider broke off the stream');
      }
      if (!finished && !sawFinish) throw new LlmProviderError('upstream_error', 'the LLM provider ended the stream before finishing');
      yield { type: 'usage', usage: usage ?? estimateUsage(req.messages, completion) };
    } catch (err) {
      if (err instanceof LlmProviderError) {
        this.log.warn({ event: 'llm.failed', reason: err.reason, status: err.status, code: err.code, model: req.model, ms: Date.now() - started });
      }
      throw err;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onCallerAbort);
      // Not read to its end (a failure, the caller left): the connection is not reusable.
      if (res && !res.complete) res.destroy();
    }
  }

  private failure(err: unknown, own: AbortSignal, caller: AbortSignal | undefined, broken?: string): unknown {
    if (err instanceof LlmProviderError) return err;
    if (own.aborted && own.reason === TIMED_OUT) {
      return new LlmProviderError('upstream_timeout', `the LLM provider did not answer within ${this.config.llm.timeoutMs} ms`);
    }
    if (caller?.aborted) return caller.reason;
    const code = (err as { code?: unknown })?.code;
    return new LlmProviderError('upstream_unavailable', broken ?? 'the LLM provider is unreachable', undefined, typeof code === 'string' ? code : undefined);
  }

  private statusFailure(status: number, model: string): LlmProviderError {
    if (status === 401 || status === 403) {
      return new LlmProviderError('upstream_error', `the LLM provider refused the BFF's credentials (${status})`, status);
    }
    if (status === 404) return new LlmProviderError('upstream_error', `the LLM provider does not serve the model ${model}`, status);
    if (status === 429) return new LlmProviderError('upstream_error', 'the LLM provider is rate limiting the BFF (429)', status);
    if (status === 408 || status === 504) return new LlmProviderError('upstream_timeout', `the LLM provider timed out (${status})`, status);
    if (status >= 500) return new LlmProviderError('upstream_unavailable', `the LLM provider failed (${status})`, status);
    return new LlmProviderError('upstream_error', `the LLM provider refused the request (${status})`, status);
  }
}

/** End of the first complete SSE event in the buffer (index after its blank line), or -1. */
function nextEventEnd(buffer: string): number {
  const lf = buffer.indexOf('\n\n');
  const crlf = buffer.indexOf('\r\n\r\n');
  if (lf < 0 && crlf < 0) return -1;
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return crlf + 4;
  return lf + 2;
}

/** The `data:` payload of one SSE event (multi-line data joined by \n); undefined for comments and empty events. */
function eventData(event: string): string | undefined {
  // The common case, one `data: …` line: no split.
  const firstBreak = event.search(/\r?\n/);
  if (event.startsWith('data: ') && (firstBreak < 0 || /^(\r?\n)*$/.test(event.slice(firstBreak)))) {
    return event.slice(6, firstBreak < 0 ? undefined : firstBreak);
  }
  let data: string | undefined;
  for (const line of event.split(/\r?\n/)) {
    if (!line.startsWith('data:')) continue;
    const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
    data = data === undefined ? value : `${data}\n${value}`;
  }
  return data;
}

interface ParsedChunk {
  content?: string;
  finish?: boolean;
  usage?: LlmUsage;
}

function parseChunk(data: string): ParsedChunk {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    throw new LlmProviderError('upstream_error', 'the LLM provider sent a malformed stream event');
  }
  if (!value || typeof value !== 'object') throw new LlmProviderError('upstream_error', 'the LLM provider sent a malformed stream event');
  const v = value as {
    error?: unknown;
    choices?: Array<{ delta?: { content?: unknown }; finish_reason?: unknown }>;
    usage?: { prompt_tokens?: unknown; completion_tokens?: unknown; total_tokens?: unknown } | null;
  };
  if (v.error !== undefined && v.error !== null) throw new LlmProviderError('upstream_error', 'the LLM provider reported an error mid-stream');
  const out: ParsedChunk = {};
  const choice = Array.isArray(v.choices) ? v.choices[0] : undefined;
  if (choice) {
    if (typeof choice.delta?.content === 'string' && choice.delta.content.length > 0) out.content = choice.delta.content;
    if (typeof choice.finish_reason === 'string') out.finish = true;
  }
  const u = v.usage;
  if (u && typeof u.prompt_tokens === 'number' && typeof u.completion_tokens === 'number') {
    out.usage = {
      prompt_tokens: u.prompt_tokens,
      completion_tokens: u.completion_tokens,
      total_tokens: typeof u.total_tokens === 'number' ? u.total_tokens : u.prompt_tokens + u.completion_tokens,
    };
  }
  return out;
}

function estimateUsage(messages: LlmChatMessage[], completion: string): LlmUsage {
  const prompt = messages.reduce((n, m) => n + estimateTokens(m.content), 0);
  const done = estimateTokens(completion);
  return { prompt_tokens: prompt, completion_tokens: done, total_tokens: prompt + done, estimated: true };
}
