import type { Bindings, ChildLoggerOptions, LevelWithSilentOrString, LogFn, Logger } from 'pino';

const METHODS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * Fastify's request logger (`req.log`, and nestjs-pino's logger within a request), made on first use.
 *
 * Fastify makes a pino child with the request id for every request. That costs a logger object and the
 * serialised bindings each time, even for the requests that log nothing: at LOG_LEVEL=warn, every allowed
 * request. On the hot routes it was the largest single item of a `GET /auth/me` profile after the
 * authentication itself (bench/README.md). This stands in for the child and makes the very same child
 * (same parent, bindings and options) the first time anything logs through it, so every line written
 * is the one it was.
 */
export class LazyRequestLogger {
  #child: Logger | undefined;

  constructor(
    private readonly parent: Logger,
    private readonly childBindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  /** The real child, made now if not yet. */
  bound(): Logger {
    return (this.#child ??= this.parent.child(this.childBindings, this.options));
  }

  get level(): LevelWithSilentOrString {
    return this.#child?.level ?? this.options.level ?? this.parent.level;
  }

  set level(level: LevelWithSilentOrString) {
    this.bound().level = level;
  }

  isLevelEnabled(level: LevelWithSilentOrString): boolean {
    return this.#child === undefined && this.options.level === undefined ? this.parent.isLevelEnabled(level) : this.bound().isLevelEnabled(level);
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): Logger {
    return this.bound().child(bindings, options);
  }

  bindings(): Bindings {
    return this.bound().bindings();
  }

  setBindings(bindings: Bindings): void {
    this.bound().setBindings(bindings);
  }

  flush(cb?: (err?: Error) => void): void {
    this.parent.flush(cb);
  }

  declare fatal: LogFn;
  declare error: LogFn;
  declare warn: LogFn;
  declare info: LogFn;
  declare debug: LogFn;
  declare trace: LogFn;
  declare silent: LogFn;
}

for (const method of METHODS) {
  Object.defineProperty(LazyRequestLogger.prototype, method, {
    value: function (this: LazyRequestLogger, ...args: Parameters<LogFn>) {
      // A line below the level (or `silent`) makes no child: pino's method is a no-op then.
      if (method === 'silent' || !this.isLevelEnabled(method)) return;
      (this.bound()[method] as (...a: Parameters<LogFn>) => void)(...args);
    },
    writable: true,
    configurable: true,
  });
}
