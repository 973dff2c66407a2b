import type { LoggerService } from '@nestjs/common';

/**
 * Nest's bootstrap chatter: one line per module initialised (InstanceLoader), per controller
 * (RoutesResolver) and per route mapped (RouterExplorer) — about 80 lines at every start, which scroll
 * the sandbox banner away. They are debug information: logged at debug (LOG_LEVEL=debug shows them).
 */
const BOOT_CONTEXTS: ReadonlySet<string> = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer']);

/** `inner` with Nest's bootstrap lines moved from log (info) to debug; everything else unchanged. */
export function withBootLinesAtDebug(inner: LoggerService): LoggerService {
  const isBoot = (params: unknown[]) => {
    const context = params[params.length - 1];
    return typeof context === 'string' && BOOT_CONTEXTS.has(context);
  };
  return {
    log: (message: unknown, ...params: unknown[]) => (isBoot(params) && inner.debug ? inner.debug(message, ...params) : inner.log(message, ...params)),
    error: (message: unknown, ...params: unknown[]) => inner.error(message, ...params),
    warn: (message: unknown, ...params: unknown[]) => inner.warn(message, ...params),
    debug: (message: unknown, ...params: unknown[]) => inner.debug?.(message, ...params),
    verbose: (message: unknown, ...params: unknown[]) => inner.verbose?.(message, ...params),
    fatal: (message: unknown, ...params: unknown[]) => inner.fatal?.(message, ...params),
  };
}
