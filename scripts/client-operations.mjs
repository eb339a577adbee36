// Writes one GraphQL operation per root field of the API contract into client/operations/<version>/,
// for the client package's typed documents (`npm run codegen` runs this, then GraphQL Code Generator).
//
//   node scripts/client-operations.mjs [--contract v1|v2 ...]     default: every version listed below
//
// Each operation takes every argument of its field as a variable and selects what the contract says
// the field returns: every scalar and enum, objects to a depth of three, lists of objects only at the
// first level (so a page of users does not also fetch each user's sessions), `nodes` rather than
// `edges`, no field that needs arguments of its own, and no field the contract keeps for some roles
// (its description names ADMINs or MODERATORs), so every operation works for every caller its root
// field admits. Reads ../shared/api/contract*.graphql; without it,
// leaves the committed operations as they are.
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  buildSchema,
  getNamedType,
  isEnumType,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  parse,
  print,
} from 'graphql';

const ROOT = new URL('..', import.meta.url).pathname;
const CONTRACTS = {
  v1: join(ROOT, '..', 'shared', 'api', 'contract.graphql'),
  v2: join(ROOT, '..', 'shared', 'api', 'contract.v2.graphql'),
};
/** The versions the client package ships; add 'v2' here when it does. */
const SHIPPED = ['v1'];
const MAX_DEPTH = 3;

const { values } = parseArgs({ options: { contract: { type: 'string', multiple: true } } });
const versions = values.contract ?? SHIPPED;

for (const version of versions) {
  const path = CONTRACTS[version];
  if (!path) throw new Error(`unknown contract ${version} (known: ${Object.keys(CONTRACTS).join(', ')})`);
  if (!existsSync(path)) {
    console.warn(`client-operations: ${path} is missing; client/operations/${version} left as it is`);
    continue;
  }
  const schema = buildSchema(await readFile(path, 'utf8'), { assumeValidSDL: true });
  const out = join(ROOT, 'client', 'operations', version);
  mkdirSync(out, { recursive: true });
  for (const file of readdirSync(out)) if (file.endsWith('.graphql')) rmSync(join(out, file));
  let count = 0;
  for (const [kind, root] of [
    ['query', schema.getQueryType()],
    ['mutation', schema.getMutationType()],
    ['subscription', schema.getSubscriptionType()],
  ]) {
    if (!root) continue;
    for (const field of Object.values(root.getFields())) {
      const document = operation(kind, field);
      writeFileSync(join(out, `${field.name}.graphql`), `${comment(field)}${print(parse(document))}\n`);
      count += 1;
    }
  }
  console.log(
    `client-operations: ${count} operations of contract ${version} in client/operations/${version}`,
  );
}

function operation(kind, field) {
  const name = field.name[0].toUpperCase() + field.name.slice(1);
  const variables = field.args.map((arg) => `$${arg.name}: ${arg.type}`).join(', ');
  const args = field.args.map((arg) => `${arg.name}: $${arg.name}`).join(', ');
  const selection = selectionOf(field.type, 1);
  return `${kind} ${name}${variables ? `(${variables})` : ''} { ${field.name}${args ? `(${args})` : ''} ${selection} }`;
}

function selectionOf(type, depth) {
  const named = getNamedType(type);
  if (isScalarType(named) || isEnumType(named)) return '';
  if (!isObjectType(named) && !isInterfaceType(named)) return '{ __typename }';
  const fields = named.getFields();
  const parts = [];
  for (const child of Object.values(fields)) {
    if (child.args.some((arg) => isNonNullType(arg.type) && arg.defaultValue === undefined)) continue;
    if (child.name === 'edges' && fields.nodes) continue;
    if (/\b(ADMINs?|MODERATORs?)\b/.test(child.description ?? '')) continue;
    const childNamed = getNamedType(child.type);
    if (isScalarType(childNamed) || isEnumType(childNamed)) {
      parts.push(child.name);
      continue;
    }
    if (depth >= MAX_DEPTH) continue;
    if (depth > 1 && isList(child.type)) continue;
    const nested = selectionOf(child.type, depth + 1);
    if (nested !== '{ }') parts.push(`${child.name} ${nested}`);
  }
  return `{ ${parts.length ? parts.join(' ') : '__typename'} }`;
}

function isList(type) {
  return isListType(isNonNullType(type) ? type.ofType : type);
}

function comment(field) {
  const text = field.description?.trim();
  return text
    ? `${text
        .split('\n')
        .map((line) => `# ${line}`.trimEnd())
        .join('\n')}\n`
    : '';
}
