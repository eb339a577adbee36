/**
 * FIFO counting semaphore. bcrypt and jose both run on libuv's small thread
 * pool; capping concurrent hashing keeps a sign-in storm from starving token
 * verification (see STACK.md, "Measured on a prototype").
 */
export class Semaphore {
  #running = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError('Semaphore capacity must be a positive integer');
    }
  }

  get running(): number {
    return this.#running;
  }

  get queued(): number {
    return this.#waiting.length;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running < this.capacity) {
      this.#running++;
    } else {
      // The releasing task hands its slot over directly, so #running never dips
      // and a newcomer cannot overtake the queue.
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }
}
