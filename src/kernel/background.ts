import type { Logger } from './logger.js';

/**
 * Work a request starts but does not wait for (so that its answer cannot depend on it, e.g. in
 * time), still awaited before the process stops. Failures are logged.
 */
export class BackgroundWork {
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly logger: Logger) {}

  run(name: string, work: () => Promise<unknown>): void {
    const task = Promise.resolve()
      .then(work)
      .catch((error: unknown) => this.logger.error({ err: error, task: name }, 'background work failed'))
      .finally(() => this.pending.delete(task));
    this.pending.add(task);
  }

  /** Resolves once everything started so far (and anything it started) has finished. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }
}
