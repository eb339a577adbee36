import 'reflect-metadata';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { buildBaseSchema } from '../graphql/schema.js';

/** `npm run schema:emit`: writes the public schema to schema/schema.graphql (committed). */
const target = resolve(process.argv[2] ?? 'schema/schema.graphql');
const schema = await buildBaseSchema();
mkdirSync(dirname(target), { recursive: true });
writeFileSync(target, `${printSchema(lexicographicSortSchema(schema))}\n`);
console.log(`Wrote ${target}`);
