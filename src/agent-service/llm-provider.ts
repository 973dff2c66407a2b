import type { Readable } from 'node:stream';
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { createParser } from 'eventsource-parser';
import { UpstreamTransport, type UpstreamResponse } from '../common/upstream-transport';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { modelSettingsFor, type LlmModelSettings } from '../config/llm-model-settings';

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

/**
 * Where a streamed completion goes (push style: no async iteration between the socket and the caller).
 * `onDelta` gets the content of the events that arrived in one read; returning a promise pauses the
 * provider's stream until it settles (backpressure from a slow consumer).
 */
export interface LlmStreamSink {
  onDelta(content: string): void | Promise<void>;
}

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

/**
 * The one client of the LLM provider (OpenAI-compatible chat completions: OpenAI, LiteLLM, vLLM,
 * Ollama...). LLM_BASE_URL is the API base including its version path (e.g. http://litellm:4000/v1);
 * LLM_API_KEY, when set, is sent as a bearer token to that base only.
 *
 * Streaming only: `stream()` pushes each content delta into a sink as it arrives and resolves with
 * the usage at the end. LLM_TIMEOUT_MS bounds the wait for the response headers and for every next
 * event. Failures are LlmProviderError with a stable reason; the provider's own error bodies are
 * drained, never logged or forwarded, because providers echo (parts of) the API key in them.
 */
@Injectable()
export class LlmProvider implements OnApplicationShutdown {
  private readonly log = new Logger('LlmProvider');
  private readonly endpoint?: string;
  /**
   * Keep-alive connections to the provider. No transport timeouts: LLM_TIMEOUT_MS (per model) bounds the
   * wait for the headers and every next event, and a pause for a slow consumer does not count (ProviderCall).
   */
  private readonly transport = new UpstreamTransport({ name: 'the LLM provider', headersTimeoutMs: 0, bodyTimeoutMs: 0 });

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    if (config.llm.baseUrl) this.endpoint = new URL(`${config.llm.baseUrl}/chat/completions`).toString();
  }

  get configured(): boolean {
    return this.endpoint !== undefined;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.transport.close();
  }

  /**
   * Streams one chat completion into `sink`: one `onDelta` per read from the provider (the content of
   * every event that arrived in it); resolves with the usage (the provider's, or an estimate) once the
   * response is read to its end. `signal` cancels it: the promise rejects with the caller's reason as is,
   * and the provider request is destroyed.
   */
  stream(req: LlmChatRequest, sink: LlmStreamSink, signal?: AbortSignal): Promise<LlmUsage> {
    if (!this.endpoint) return Promise.reject(new LlmProviderError('upstream_unavailable', 'no LLM provider is configured (LLM_BASE_URL)'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    const settings = modelSettingsFor(req.model, this.config.llm.modelSettings, this.config.llm.timeoutMs);
    const body = JSON.stringify(chatCompletionBody(req, settings));
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'text/event-stream',
      'content-length': String(Buffer.byteLength(body)),
    };
    if (this.config.llm.apiKey) headers.authorization = `Bearer ${this.config.llm.apiKey}`;
    return new Promise<LlmUsage>((resolve, reject) => {
      const call = new ProviderCall(settings.idleTimeoutMs, this.log, req, sink, signal, resolve, reject);
      // The transport sends it once more when a reused keep-alive connection was closed under it (the provider's idle timeout, e.g. uvicorn's 5 s).
      call.start((cancel) => this.transport.send({ method: 'POST', url: this.endpoint!, headers, body, signal: cancel }));
    });
  }
}

/**
 * The streamed chat-completions request for `req`, shaped by the model's settings: `max_tokens` or
 * `max_completion_tokens`, `temperature` only where the model takes it, `stream_options` only where
 * the provider accepts it. Its type is checked against the official `openai` SDK's request type
 * (llm-request-shape.spec.ts).
 */
export function chatCompletionBody(req: LlmChatRequest, settings: LlmModelSettings): ChatCompletionBody {
  const body: ChatCompletionBody = { model: req.model, messages: req.messages, stream: true };
  if (settings.temperature) body.temperature = req.temperature;
  if (settings.tokenParameter === 'max_completion_tokens') body.max_completion_tokens = req.maxTokens;
  else body.max_tokens = req.maxTokens;
  if (settings.streamOptions) body.stream_options = { include_usage: true };
  return body;
}

/** The fields the BFF sends to /chat/completions (a subset of OpenAI's ChatCompletionCreateParamsStreaming). */
export interface ChatCompletionBody {
  model: string;
  messages: LlmChatMessage[];
  stream: true;
  temperature?: number;
  max_tokens?: number;
  max_completion_tokens?: number;
  stream_options?: { include_usage: boolean };
}

function statusFailure(status: number, model: string): LlmProviderError {
  if (status === 401 || status === 403) {
    return new LlmProviderError('upstream_error', `the LLM provider refused the BFF's credentials (${status})`, status);
  }
  if (status === 404) return new LlmProviderError('upstream_error', `the LLM provider does not serve the model ${model}`, status);
  if (status === 429) return new LlmProviderError('upstream_error', 'the LLM provider is rate limiting the BFF (429)', status);
  if (status === 408 || status === 504) return new LlmProviderError('upstream_timeout', `the LLM provider timed out (${status})`, status);
  if (status >= 500) return new LlmProviderError('upstream_unavailable', `the LLM provider failed (${status})`, status);
  return new LlmProviderError('upstream_error', `the LLM provider refused the request (${status})`, status);
}

/** Longest SSE event (or unterminated line) accepted: a provider that never ends one is broken, not a memory sink. */
const MAX_EVENT_CHARS = 1024 * 1024;
const malformed = () => new LlmProviderError('upstream_error', 'the LLM provider sent a malformed stream event');

/**
 * One streamed completion, push style: the response's 'data' events are parsed as they come (SSE by
 * eventsource-parser, one JSON.parse per event) and the deltas of one read go to the sink at once. The idle timeout is a timestamp per read checked by one timer,
 * re-armed only when it fires (not a clearTimeout/setTimeout per event).
 */
class ProviderCall {
  private readonly started = Date.now();
  /** Cancels the provider request (and its response body) when the call settles before its end. */
  private readonly cancel = new AbortController();
  private res?: Readable;
  /** The response was read to its end (its connection goes back to the pool). */
  private ended = false;
  private timer?: NodeJS.Timeout;
  /** Date.now() of the last read from the provider (or of the end of a pause for a slow consumer). */
  private lastRead = this.started;
  private paused = false;
  private settled = false;
  /** The stream's events, as they complete (the parser keeps the unterminated rest between reads). */
  private readonly events = createParser({
    maxBufferSize: MAX_EVENT_CHARS,
    onEvent: (event) => this.onEvent(event.data),
    onError: () => (this.broken ??= malformed()),
  });
  /** The content of the events of the current read, and what broke it (after that content). */
  private content = '';
  private broken: unknown;
  private finished = false;
  private sawFinish = false;
  private usage?: LlmUsage;
  private completionChars = 0;

  constructor(
    private readonly timeoutMs: number,
    private readonly log: Logger,
    private readonly req: LlmChatRequest,
    private readonly sink: LlmStreamSink,
    private readonly signal: AbortSignal | undefined,
    private readonly resolve: (usage: LlmUsage) => void,
    private readonly reject: (err: unknown) => void,
  ) {}

  start(send: (cancel: AbortSignal) => Promise<UpstreamResponse>): void {
    this.signal?.addEventListener('abort', this.onAbort, { once: true });
    this.timer = setTimeout(this.onTimer, this.timeoutMs);
    send(this.cancel.signal).then(this.onResponse, this.onRequestError);
  }

  private readonly onAbort = (): void => this.fail(this.signal!.reason);

  private readonly onTimer = (): void => {
    if (this.settled) return;
    const idle = Date.now() - this.lastRead;
    const timeout = this.timeoutMs;
    if (this.paused || idle < timeout) {
      this.timer = setTimeout(this.onTimer, this.paused ? timeout : timeout - idle);
      return;
    }
    this.fail(new LlmProviderError('upstream_timeout', `the LLM provider did not answer within ${timeout} ms`));
  };

  private readonly onRequestError = (err: unknown): void => {
    if (this.settled) return;
    const code = (err as { code?: unknown })?.code;
    const detail = this.res ? 'the LLM provider broke off the stream' : 'the LLM provider is unreachable';
    this.fail(new LlmProviderError('upstream_unavailable', detail, undefined, typeof code === 'string' ? code : undefined));
  };

  private readonly onResponse = ({ status, body: res }: UpstreamResponse): void => {
    this.res = res;
    res.on('error', this.onRequestError);
    if (this.settled) return void res.destroy();
    if (status < 200 || status >= 300) {
      // Never read: providers echo (parts of) the key in their errors.
      this.fail(statusFailure(status, this.req.model));
      return;
    }
    this.lastRead = Date.now();
    res.setEncoding('utf8');
    res.on('data', this.onData);
    res.on('end', this.onEnd);
    res.on('close', this.onClose);
  };

  private readonly onData = (chunk: string): void => {
    this.lastRead = Date.now();
    // Read to the end even after [DONE] (providers follow it with the end of the response at once):
    // leaving early would destroy a reusable keep-alive connection.
    if (this.settled || this.finished) return;
    // Deltas of the events that arrived together go out together (one frame, not one per event):
    // no event waits for another, and a BFF under load writes fewer, larger frames.
    this.content = '';
    this.events.feed(chunk);
    const { content, broken } = this;
    if (content.length > 0) {
      this.completionChars += content.length;
      const wait = this.sink.onDelta(content);
      if (wait && !this.settled) {
        // A slow consumer: stop reading the provider until the delta is written.
        this.paused = true;
        this.res!.pause();
        void wait.then(this.onDrained, this.onDrained);
      }
    }
    if (broken !== undefined) this.fail(broken);
  };

  /** One event's data: `[DONE]` ends the stream; events after it, or after a broken one, are not read. */
  private onEvent(data: string): void {
    if (this.finished || this.broken !== undefined) return;
    if (data === '[DONE]') {
      this.finished = true;
      return;
    }
    try {
      this.content += this.parseEvent(data);
    } catch (err) {
      this.broken = err;
    }
  }

  private readonly onDrained = (): void => {
    this.paused = false;
    this.lastRead = Date.now();
    if (!this.settled) this.res!.resume();
  };

  /** The content of one `chat.completion.chunk` event ('' for none); records the finish and the usage. */
  private parseEvent(data: string): string {
    let value: unknown;
    try {
      value = JSON.parse(data);
    } catch {
      throw malformed();
    }
    if (!value || typeof value !== 'object') throw malformed();
    const v = value as {
      error?: unknown;
      choices?: Array<{ delta?: { content?: unknown }; finish_reason?: unknown }>;
      usage?: { prompt_tokens?: unknown; completion_tokens?: unknown; total_tokens?: unknown } | null;
    };
    if (v.error !== undefined && v.error !== null) throw new LlmProviderError('upstream_error', 'the LLM provider reported an error mid-stream');
    const u = v.usage;
    if (u && typeof u.prompt_tokens === 'number' && typeof u.completion_tokens === 'number') {
      this.usage = {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
        total_tokens: typeof u.total_tokens === 'number' ? u.total_tokens : u.prompt_tokens + u.completion_tokens,
      };
    }
    const choice = Array.isArray(v.choices) ? v.choices[0] : undefined;
    if (!choice) return '';
    if (typeof choice.finish_reason === 'string') this.sawFinish = true;
    const content = choice.delta?.content;
    return typeof content === 'string' ? content : '';
  }

  private readonly onEnd = (): void => {
    this.ended = true;
    if (this.settled) return;
    if (!this.finished && !this.sawFinish) {
      this.fail(new LlmProviderError('upstream_error', 'the LLM provider ended the stream before finishing'));
      return;
    }
    this.settle();
    this.resolve(this.usage ?? estimateUsage(this.req.messages, this.completionChars));
  };

  private readonly onClose = (): void => {
    if (!this.settled && !this.ended) this.onRequestError(undefined);
  };

  private fail(err: unknown): void {
    if (this.settled) return;
    this.settle();
    if (err instanceof LlmProviderError) {
      // Once per failure, without the provider's words.
      this.log.warn({ event: 'llm.failed', reason: err.reason, status: err.status, code: err.code, model: this.req.model, ms: Date.now() - this.started });
    }
    this.reject(err);
  }

  private settle(): void {
    this.settled = true;
    clearTimeout(this.timer);
    this.signal?.removeEventListener('abort', this.onAbort);
    // Not read to its end (a failure, the caller left): the connection is not reusable.
    if (!this.ended) {
      this.cancel.abort();
      this.res?.destroy();
    }
  }
}

function estimateUsage(messages: LlmChatMessage[], completionChars: number): LlmUsage {
  const prompt = messages.reduce((n, m) => n + estimateTokens(m.content), 0);
  const done = Math.ceil(completionChars / 4);
  return { prompt_tokens: prompt, completion_tokens: done, total_tokens: prompt + done, estimated: true };
}
