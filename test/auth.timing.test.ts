import { performance } from 'node:perf_hooks';
import { beforeAll, describe, expect, it } from 'vitest';
import { attemptLogin, createTenant, registerUser, type SignedIn, unique } from './support/fixtures.js';
import { errorCode, useTestServer } from './support/server.js';

/**
 * A failed sign-in must not tell by its timing whether the email exists: both answers cost one
 * bcrypt verify at the production-like cost 10 (~50 ms), so their medians must be within 25 %.
 * Samples are interleaved, so machine noise (other test files on the same two cores) hits both
 * series alike; a leak (say, no verify for unknown emails) is a 10x difference, far outside.
 */

const SAMPLES = 15;
const WARM_UP = 3;
const TOLERANCE = 0.25;

const server = useTestServer({ BCRYPT_COST: '10' });
let user: SignedIn;
let tenantSlug: string;

beforeAll(async () => {
  // Enough allowed failures that every wrong password takes the real "wrong password" path.
  tenantSlug = (await createTenant(server, { settings: { maxFailedLogins: 100 } })).slug;
  user = await registerUser(server, tenantSlug);
});

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

async function timedFailure(email: string): Promise<number> {
  const start = performance.now();
  const response = await attemptLogin(server, tenantSlug, email, `${user.password} (wrong)`);
  const elapsed = performance.now() - start;
  expect(errorCode(response)).toBe('UNAUTHENTICATED');
  return elapsed;
}

async function measure() {
  const unknown: number[] = [];
  const wrong: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    // Alternate which goes first, so neither series always follows the other.
    const order = i % 2 === 0 ? ['unknown', 'wrong'] : ['wrong', 'unknown'];
    for (const kind of order) {
      if (kind === 'unknown') unknown.push(await timedFailure(`${unique('nobody')}@example.test`));
      else wrong.push(await timedFailure(user.email));
    }
  }
  const unknownMedian = median(unknown);
  const wrongMedian = median(wrong);
  const difference = Math.abs(unknownMedian - wrongMedian) / Math.min(unknownMedian, wrongMedian);
  return { unknownMedian, wrongMedian, difference };
}

describe('sign-in timing', () => {
  it('takes as long for an unknown email as for a wrong password (medians within 25 %)', async () => {
    for (let i = 0; i < WARM_UP; i++) {
      await timedFailure(`${unique('warmup')}@example.test`);
      await timedFailure(user.email);
    }
    let result = await measure();
    // One more try absorbs a burst of noise; a real leak fails both.
    if (result.difference > TOLERANCE) result = await measure();
    console.info(
      `login timing at BCRYPT_COST 10: unknown email median ${result.unknownMedian.toFixed(1)} ms, ` +
        `wrong password median ${result.wrongMedian.toFixed(1)} ms (difference ${(result.difference * 100).toFixed(1)} %)`,
    );
    // Both really ran bcrypt at cost 10 (tens of milliseconds), not a shortcut.
    expect(Math.min(result.unknownMedian, result.wrongMedian)).toBeGreaterThan(20);
    expect(result.difference).toBeLessThanOrEqual(TOLERANCE);
  }, 120_000);
});
