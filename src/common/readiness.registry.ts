import { Injectable } from '@nestjs/common';

/** A dependency check for /health/ready: 'up', 'down' (not ready) or 'degraded' (ready, with a warning). */
export type ReadinessCheck = () => Promise<{ status: 'up' | 'down' | 'degraded'; detail?: string }>;

/** Modules register the dependencies they need here; /health/ready runs them all. */
@Injectable()
export class ReadinessRegistry {
  private readonly checks = new Map<string, ReadinessCheck>();

  register(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
  }

  entries(): Array<[string, ReadinessCheck]> {
    return [...this.checks.entries()];
  }
}

/** An optional upstream: reachable is 'up', unreachable leaves the BFF ready but 'degraded' (its other routes still work). */
export function degradedWhenUnreachable(url: string, detail: string): ReadinessCheck {
  return async () => {
    const r = await httpReachable(url);
    return r.status === 'up' ? r : { status: 'degraded', detail };
  };
}

/** Probes an upstream base URL: any HTTP answer within the timeout means reachable. */
export async function httpReachable(url: string, timeoutMs = 2000): Promise<{ status: 'up' | 'down'; detail?: string }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
    await res.body?.cancel();
    return { status: 'up' };
  } catch {
    return { status: 'down', detail: 'unreachable' };
  }
}
