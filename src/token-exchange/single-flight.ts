/**
 * Concurrent calls for one key share one in-flight promise — its value or its failure. Nothing is
 * remembered once it settles (caching is the caller's business), so a failure is never replayed.
 */
export class SingleFlight<T> {
  private readonly inFlight = new Map<string, Promise<T>>();

  run(key: string, fn: () => Promise<T>): Promise<T> {
    const running = this.inFlight.get(key);
    if (running) return running;
    const flight = Promise.resolve()
      .then(fn)
      .finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, flight);
    return flight;
  }

  /** Keys with a call in flight. */
  get size(): number {
    return this.inFlight.size;
  }
}
