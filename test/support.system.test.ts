import { describe, expect, it } from 'vitest';
import {
  ensureProgram,
  findProgram,
  missingLine,
  requireProgram,
  type SystemProgram,
} from './support/system.js';

/**
 * The test set-up's rule for programs Node does not bring (test/support/system.ts): found on the
 * machine, installed from Debian's packages when running as root, otherwise one line naming the
 * package, which is what a test that needs the program then fails with.
 */

const missing: SystemProgram = {
  what: 'frobnicator (the frobnication tests)',
  candidates: ['/nonexistent/bin/frobnicator', 'frobnicator-that-is-not-installed'],
  aptPackage: 'frobnicator',
};

describe('programs the tests need', () => {
  it('finds a program by absolute path or on PATH', () => {
    expect(findProgram({ what: 'sh', candidates: ['/nonexistent/sh', 'sh'], aptPackage: 'dash' })).toMatch(
      /\/sh$/,
    );
    expect(findProgram(missing)).toBeUndefined();
  });

  it('without root, a missing program is one line naming the package to install', () => {
    const line = missingLine(missing);
    expect(line).toBe(
      "frobnicator (the frobnication tests) is not installed: install Debian's package frobnicator (sudo apt-get install frobnicator).",
    );
    expect(line).not.toContain('\n');
    expect(() => ensureProgram(missing, () => {}, false)).toThrow(line);
    expect(() => requireProgram(missing)).toThrow(line);
  });

  it('returns the path of a program that is there, installing nothing', () => {
    const told: string[] = [];
    const sh = { what: 'sh', candidates: ['sh'], aptPackage: 'dash' };
    expect(ensureProgram(sh, (line) => told.push(line), true)).toMatch(/\/sh$/);
    expect(told).toEqual([]);
  });
});
