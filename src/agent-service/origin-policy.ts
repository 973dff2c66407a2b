import type { IncomingHttpHeaders } from 'node:http';
import type { AppConfig } from '../config/app-config';

/**
 * Which browser origins may open the agent WebSocket (the defence against cross-site WebSocket
 * hijacking). Only browsers send Origin, and a browser page cannot forge it:
 *
 * - no Origin header: allowed (a non-browser client; it still needs a token or ticket);
 * - WS_ALLOWED_ORIGINS set: the Origin must be one of the list (exact `scheme://host[:port]`,
 *   compared case-insensitively, default ports ignored); `*` allows every origin;
 * - WS_ALLOWED_ORIGINS unset (the default): same-origin only — the origin of PUBLIC_URL, or else
 *   the Host the request was sent to (X-Forwarded-Host and X-Forwarded-Proto when TRUST_PROXY) —
 *   plus the CORS_ORIGINS list, which already names the frontends allowed to call this API.
 */
export class OriginPolicy {
  private readonly allowAll: boolean;
  private readonly listed: Set<string>;
  private readonly explicit: boolean;
  private readonly publicOrigin?: string;

  constructor(private readonly config: Pick<AppConfig, 'agents' | 'corsOrigins' | 'publicUrl' | 'trustProxy'>) {
    this.explicit = config.agents.wsAllowedOrigins.length > 0;
    const source = this.explicit ? config.agents.wsAllowedOrigins : config.corsOrigins;
    this.allowAll = this.explicit && source.includes('*');
    this.listed = new Set(source.map(normaliseOrigin).filter((o): o is string => o !== undefined));
    this.publicOrigin = config.publicUrl ? normaliseOrigin(config.publicUrl) : undefined;
  }

  /** Undefined when allowed, else why not (for the 403 detail; the origin itself is not echoed). */
  check(headers: IncomingHttpHeaders): string | undefined {
    const raw = headers.origin;
    if (raw === undefined) return undefined;
    if (this.allowAll) return undefined;
    const origin = normaliseOrigin(raw);
    if (origin === undefined) return 'the Origin header is malformed';
    if (this.listed.has(origin)) return undefined;
    if (!this.explicit && origin === this.ownOrigin(headers, origin)) return undefined;
    return this.explicit ? 'the Origin is not in WS_ALLOWED_ORIGINS' : 'cross-origin WebSocket requests are not allowed (set WS_ALLOWED_ORIGINS)';
  }

  /** The BFF's own origin as the browser addressed it. */
  private ownOrigin(headers: IncomingHttpHeaders, origin: string): string | undefined {
    if (this.publicOrigin) return this.publicOrigin;
    const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v)?.split(',')[0].trim();
    const host = (this.config.trustProxy && first(headers['x-forwarded-host'])) || first(headers.host);
    if (!host) return undefined;
    const proto = (this.config.trustProxy && first(headers['x-forwarded-proto'])) || (origin.startsWith('https:') ? 'https' : 'http');
    return normaliseOrigin(`${proto}://${host}`);
  }
}

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443' };

/** `scheme://host[:port]` in lowercase without a default port, or undefined when not an http(s) origin. */
export function normaliseOrigin(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  const port = url.port && url.port !== DEFAULT_PORTS[url.protocol] ? `:${url.port}` : '';
  return `${url.protocol}//${url.hostname.toLowerCase()}${port}`;
}
