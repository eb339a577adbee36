import { createRequire } from 'node:module';
import type * as Core from '@zxcvbn-ts/core';
import type * as LanguageCommon from '@zxcvbn-ts/language-common';
import type * as LanguageEn from '@zxcvbn-ts/language-en';

/**
 * A pattern-aware estimate of how many guesses a password takes (zxcvbn-ts with the common and
 * English dictionaries and keyboard layouts): it finds what a blocklist cannot, such as keyboard
 * walks (`qwertyuiopas`), repeats, sequences, dates and dictionary words with substitutions.
 */

/** zxcvbn's scale is 0-4; 3 means "safely unguessable" (about 10^8 guesses or more). */
export const MIN_STRENGTH_SCORE = 3;

/**
 * The estimate looks at this many leading code points at most. Its matching grows faster than the
 * length (every substring against every dictionary, for each substitution variant): 12 code points
 * cost about a millisecond, 256 of an adversarial mix up to seconds of blocked event loop. A password
 * whose first 40 code points are hard to guess is hard to guess; a longer one that starts with a
 * guessable run is refused, which is what its owner should hear anyway.
 */
export const MAX_ESTIMATED_LENGTH = 40;

/**
 * How many characters may be read as l33t substitutions (`4` for `a`, `$` for `s`). The library's
 * default of 100 makes inputs full of digits and symbols two orders of magnitude slower; four is
 * more than common words with substitutions use.
 */
const L33T_MAX_SUBSTITUTIONS = 4;

export interface StrengthEstimate {
  score: 0 | 1 | 2 | 3 | 4;
  /** The library's advice, in English, without the password. */
  feedback: { warning: string | null; suggestions: string[] };
}

// The dictionaries are large (~9 MB of lists, ranked into maps on first use): load them through
// require() when the first password is checked, so importing this module stays cheap and the
// check stays synchronous.
const require = createRequire(import.meta.url);
let estimator: Core.ZxcvbnFactory | undefined;

function loadEstimator(): Core.ZxcvbnFactory {
  if (estimator === undefined) {
    const { ZxcvbnFactory } = require('@zxcvbn-ts/core') as typeof Core;
    const common = require('@zxcvbn-ts/language-common') as typeof LanguageCommon;
    const english = require('@zxcvbn-ts/language-en') as typeof LanguageEn;
    estimator = new ZxcvbnFactory({
      translations: english.translations,
      graphs: common.adjacencyGraphs,
      dictionary: { ...common.dictionary, ...english.dictionary },
      l33tMaxSubstitutions: L33T_MAX_SUBSTITUTIONS,
      maxLength: MAX_ESTIMATED_LENGTH,
    });
  }
  return estimator;
}

/**
 * Estimates an (NFKC-normalised) password. `userInputs` are words the account itself makes easy to
 * guess: the email's name and domain, the display name, the tenant.
 */
export function estimateStrength(password: string, userInputs: readonly string[] = []): StrengthEstimate {
  const leading = Array.from(password).slice(0, MAX_ESTIMATED_LENGTH).join('');
  const inputs = userInputs
    .flatMap((input) => input.toLowerCase().split(/[^\p{L}\p{N}]+/u))
    .filter((word) => word.length >= 3)
    .slice(0, 16);
  const result = loadEstimator().check(leading, inputs);
  return { score: result.score, feedback: result.feedback };
}

/** The estimate's advice as one message for the user, e.g. "This is similar to a commonly used password. Add more words that are less common." */
export function strengthMessage(estimate: StrengthEstimate): string {
  const parts = [
    estimate.feedback.warning ?? 'This password is easy to guess.',
    ...estimate.feedback.suggestions,
  ].filter((part) => part.trim() !== '');
  return parts.join(' ');
}
