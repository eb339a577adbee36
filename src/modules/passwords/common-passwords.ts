import { createRequire } from 'node:module';
import type * as LanguageCommon from '@zxcvbn-ts/language-common';

// The list is ~49k entries, decompressed when the package is first evaluated:
// load it through require() on first use so importing this module stays cheap
// and the policy check can stay synchronous.
const require = createRequire(import.meta.url);

let cache: ReadonlySet<string> | undefined;

/** Lowercased, NFKC-normalised common passwords (zxcvbn-ts "passwords-common"). */
export function commonPasswords(): ReadonlySet<string> {
  if (cache === undefined) {
    const pkg = require('@zxcvbn-ts/language-common') as typeof LanguageCommon;
    const entries = pkg.dictionary['passwords-common'];
    cache = new Set(entries.map((entry) => entry.normalize('NFKC').toLowerCase()));
  }
  return cache;
}

/** Expects an already NFKC-normalised password; the comparison ignores case. */
export function isCommonPassword(normalizedPassword: string): boolean {
  return commonPasswords().has(normalizedPassword.toLowerCase());
}
