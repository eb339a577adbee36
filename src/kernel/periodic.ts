import type { Logger } from './logger.js';

/**
 * Runs `work` every `intervalMs` (first run after a random part of one interval, so instances
 * started together spread out). Errors are logged, never thrown; the timer never keeps the
 * process alive. Returns a function that stops it and waits for a run in progress.
 */
export function startPeriodicJob(options: {
  name: string;
  intervalMs: number;
  logger: Logger;
  work: () => Promise<unknown>;
}): () => Promise<void> {
  let running: Promise<unknown> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = (delay: number) => {
    if (stopped) return;
    timer = setTimeout(tick, delay);
    timer.unref();
  };
  const tick = () => {
    running = options
      .work()
      .catch((error: unknown) =>
        options.logger.warn({ err: error, job: options.name }, 'periodic job failed'),
      )
      .finally(() => {
        running = undefined;
        schedule(options.intervalMs);
      });
  };
  schedule(Math.floor(Math.random() * options.intervalMs));
  return async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    await running;
  };
}
