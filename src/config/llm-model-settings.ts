/**
 * Per-model settings of the chat-completions request: OpenAI-compatible providers differ per model.
 * OpenAI's reasoning models (o1, o3, o4, gpt-5) refuse `max_tokens` and `temperature` (400) and take
 * `max_completion_tokens`; older Azure OpenAI API versions refuse `stream_options`; slow reasoning
 * models think longer than LLM_TIMEOUT_MS between two streamed events.
 *
 * LLM_MODEL_SETTINGS (optional JSON object) overrides the defaults, keyed by a model id (`gpt-4o`) or a
 * family (`o3*`: every id starting with `o3`); an exact id wins over a family, a longer family over a
 * shorter one, fields not given keep the default:
 *   {"o3*": {"idleTimeoutMs": 120000}, "gpt-4o": {"streamOptions": false}}
 */

export type TokenParameter = 'max_tokens' | 'max_completion_tokens';

export interface LlmModelSettings {
  /** The request field carrying the completion's token limit. */
  tokenParameter: TokenParameter;
  /** Whether `temperature` is sent. */
  temperature: boolean;
  /** Whether `stream_options: {include_usage: true}` is sent (usage is then estimated when absent). */
  streamOptions: boolean;
  /** Longest wait for the response headers and between two streamed events, in ms. */
  idleTimeoutMs: number;
}

export type LlmModelSettingsOverrides = Readonly<Record<string, Partial<LlmModelSettings>>>;

const TOKEN_PARAMETERS: readonly TokenParameter[] = ['max_tokens', 'max_completion_tokens'];
const FIELDS = ['tokenParameter', 'temperature', 'streamOptions', 'idleTimeoutMs'] as const;
export const IDLE_TIMEOUT_RANGE = { min: 100, max: 600_000 } as const;

/**
 * OpenAI's reasoning models, also behind a provider prefix (LiteLLM's `openai/o3-mini`, `azure/gpt-5`):
 * o1, o3, o4 and gpt-5 and their variants (o3-mini, o4-mini-2025-04-16, gpt-5-nano...).
 */
const REASONING_MODEL = /^(?:[\w.-]+\/)*(?:o1|o3|o4|gpt-5)(?:$|[-.:@])/i;

export const isReasoningModel = (model: string): boolean => REASONING_MODEL.test(model);

/** The defaults for a model: reasoning models get max_completion_tokens and no temperature. */
export function defaultModelSettings(model: string, idleTimeoutMs: number): LlmModelSettings {
  const reasoning = isReasoningModel(model);
  return { tokenParameter: reasoning ? 'max_completion_tokens' : 'max_tokens', temperature: !reasoning, streamOptions: true, idleTimeoutMs };
}

/** The settings of `model`: defaults, then the longest matching family, then the exact id. */
export function modelSettingsFor(model: string, overrides: LlmModelSettingsOverrides, idleTimeoutMs: number): LlmModelSettings {
  const families = Object.keys(overrides)
    .filter((key) => key.endsWith('*') && model.startsWith(key.slice(0, -1)))
    .sort((a, b) => a.length - b.length);
  let settings = defaultModelSettings(model, idleTimeoutMs);
  for (const key of [...families, ...(Object.prototype.hasOwnProperty.call(overrides, model) ? [model] : [])]) settings = { ...settings, ...overrides[key] };
  return settings;
}

/** Parses LLM_MODEL_SETTINGS; every problem is reported (key and rule, never a value). */
export function parseModelSettings(raw: string | undefined, problems: Array<{ key: string; rule: string }>): LlmModelSettingsOverrides {
  if (raw === undefined || raw.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    problems.push({ key: 'LLM_MODEL_SETTINGS', rule: 'must be a JSON object keyed by model id or family (e.g. "o3*")' });
    return {};
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    problems.push({ key: 'LLM_MODEL_SETTINGS', rule: 'must be a JSON object keyed by model id or family (e.g. "o3*")' });
    return {};
  }
  const out: Record<string, Partial<LlmModelSettings>> = {};
  for (const [model, value] of Object.entries(parsed as Record<string, unknown>)) {
    const where = `LLM_MODEL_SETTINGS[${JSON.stringify(model)}]`;
    if (!/^[^\s*]+\*?$/.test(model)) {
      problems.push({ key: where, rule: 'must be a model id, or a family: a prefix followed by one trailing *' });
      continue;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      problems.push({ key: where, rule: `must be an object with some of: ${FIELDS.join(', ')}` });
      continue;
    }
    const v = value as Record<string, unknown>;
    const settings: Partial<LlmModelSettings> = {};
    for (const field of Object.keys(v)) {
      if (!(FIELDS as readonly string[]).includes(field)) problems.push({ key: `${where}.${field}`, rule: `is not a setting (allowed: ${FIELDS.join(', ')})` });
    }
    if (v.tokenParameter !== undefined) {
      if (TOKEN_PARAMETERS.includes(v.tokenParameter as TokenParameter)) settings.tokenParameter = v.tokenParameter as TokenParameter;
      else problems.push({ key: `${where}.tokenParameter`, rule: `must be one of: ${TOKEN_PARAMETERS.join(', ')}` });
    }
    for (const flag of ['temperature', 'streamOptions'] as const) {
      if (v[flag] === undefined) continue;
      if (typeof v[flag] === 'boolean') settings[flag] = v[flag];
      else problems.push({ key: `${where}.${flag}`, rule: 'must be one of: true, false' });
    }
    if (v.idleTimeoutMs !== undefined) {
      const ms = v.idleTimeoutMs;
      if (typeof ms === 'number' && Number.isInteger(ms) && ms >= IDLE_TIMEOUT_RANGE.min && ms <= IDLE_TIMEOUT_RANGE.max) settings.idleTimeoutMs = ms;
      else problems.push({ key: `${where}.idleTimeoutMs`, rule: `must be an integer from ${IDLE_TIMEOUT_RANGE.min} to ${IDLE_TIMEOUT_RANGE.max}` });
    }
    out[model] = settings;
  }
  return out;
}
