import 'reflect-metadata';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { buildBaseSchema } from '../app/schema.js';
import { runCli } from './cli.js';

await runCli({
  usage: `
usage: npm run schema:emit [-- <file>]

Writes the public GraphQL schema (SDL, sorted) to <file>, by default schema/schema.graphql
(committed; CI checks that it is current). Reads no configuration and no database.`,
  allowPositionals: true,
  run: async ({ positionals }) => {
    const target = resolve(positionals[0] ?? 'schema/schema.graphql');
    const schema = await buildBaseSchema();
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, `${printSchema(lexicographicSortSchema(schema))}\n`);
    console.log(`Wrote ${target}`);
  },
});
