import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSchema, parse, specifiedRules, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { buildBaseSchema } from '../src/app/schema.js';
import { costLimitRule, MAX_COST } from '../src/modules/abuse/query-limits.js';

/**
 * The client package's operations (client/operations/v1, written from the contract by
 * `npm run codegen`): one for every root field of the contract, each valid against the served
 * schema and within its cost limit, so none is refused before it runs.
 */

const ROOT = new URL('..', import.meta.url).pathname;
const OPERATIONS = join(ROOT, 'client', 'operations', 'v1');
const CONTRACT = join(ROOT, '..', 'shared', 'api', 'contract.graphql');
const files = readdirSync(OPERATIONS).filter((file) => file.endsWith('.graphql'));

describe('client operations (contract v1)', () => {
  it.skipIf(!existsSync(CONTRACT))('has one operation for every root field of the contract', () => {
    const contract = buildSchema(readFileSync(CONTRACT, 'utf8'), { assumeValidSDL: true });
    const roots = [contract.getQueryType(), contract.getMutationType(), contract.getSubscriptionType()];
    const fields = roots.flatMap((root) => (root ? Object.keys(root.getFields()) : []));
    expect(files.map((file) => file.replace(/\.graphql$/, '')).sort()).toEqual(fields.sort());
  });

  it('are valid against the served schema and within the cost limit', async () => {
    const schema = await buildBaseSchema();
    for (const file of files) {
      const errors = validate(schema, parse(readFileSync(join(OPERATIONS, file), 'utf8')), [
        ...specifiedRules,
        costLimitRule(MAX_COST),
      ]);
      expect(
        errors.map((error) => error.message),
        file,
      ).toEqual([]);
    }
  });
});
