import {
  buildClientSchema,
  execute,
  type GraphQLSchema,
  getIntrospectionQuery,
  isObjectType,
  parse,
} from 'graphql';
import { buildSchema, Field, getMetadataStorage, ObjectType, Query, Resolver } from 'type-graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import { applyPermissions, ruleMap } from '../src/app/permissions.js';
import { resolvers, unusedPubSub } from '../src/app/schema.js';
import { ok } from './support/fixtures.js';
import { useTestServer } from './support/server.js';

/** Every field of every object type of a schema, introspection types excepted. */
function fieldsOf(schema: GraphQLSchema): string[] {
  return Object.values(schema.getTypeMap())
    .filter((type) => isObjectType(type) && !type.name.startsWith('__'))
    .flatMap((type) =>
      Object.keys((type as { getFields(): object }).getFields()).map((f) => `${type.name}.${f}`),
    );
}

describe('permissions: every field has an explicit rule', () => {
  const server = useTestServer();
  let served: GraphQLSchema;

  beforeAll(async () => {
    // The schema exactly as the running server answers introspection.
    const { data } = await server.gql(getIntrospectionQuery());
    served = buildClientSchema(data as never);
  });

  it('finds a rule in the merged rule map for each field the server serves', () => {
    const fields = fieldsOf(served);
    expect(fields.length).toBeGreaterThan(100);
    const missing = fields.filter((name) => {
      const [type, field] = name.split('.') as [string, string];
      return !ruleMap[type]?.[field];
    });
    expect(missing).toEqual([]);
  });

  it('has no rule for a field that does not exist (a misspelt rule would leave the real field closed)', async () => {
    const served_ = new Set(fieldsOf(served));
    const stale = Object.entries(ruleMap).flatMap(([type, fields]) =>
      Object.keys(fields)
        .map((field) => `${type}.${field}`)
        .filter((name) => !served_.has(name)),
    );
    expect(stale).toEqual([]);
    // A server with a stale rule would not have started, so the check above alone could never
    // fail: the refusal itself, on a misspelt rule, naming it.
    const schema = await buildSchema({ resolvers, pubSub: unusedPubSub, validate: false });
    const misspelt = { ...ruleMap, Query: { ...ruleMap.Query, usrs: ruleMap.Query?.users } };
    expect(() => applyPermissions(schema, misspelt as typeof ruleMap)).toThrow(/Query\.usrs/);
  });

  it('uses graphql-shield alone: no type-graphql @Authorized anywhere', () => {
    expect(getMetadataStorage().authorizedFields).toEqual([]);
    expect(getMetadataStorage().authorizedResolver).toEqual([]);
  });

  it('still answers public and signed-in fields through the rule map', async () => {
    const response = await server.gql('query { tenantInfo(slug: "system") { slug } }');
    expect(ok(response).tenantInfo).toEqual({ slug: 'system' });
  });
});

@ObjectType()
class AddedLater {
  @Field(() => String)
  secret!: string;
}

@Resolver()
class AddedLaterResolver {
  @Query(() => String)
  addedLaterField(): string {
    return 'should never be served';
  }

  @Query(() => AddedLater)
  addedLaterObject(): AddedLater {
    return { secret: 'should never be served' };
  }
}

describe('permissions: a field added without a rule', () => {
  it('is denied with FORBIDDEN, even to a system ADMIN, while ruled fields still resolve', async () => {
    const schema = applyPermissions(
      await buildSchema({
        resolvers: [...resolvers, AddedLaterResolver],
        pubSub: unusedPubSub,
        validate: false,
      }),
    );
    const contextValue = {
      caller: {
        userId: 'u',
        tenantId: 't',
        role: 'ADMIN',
        sessionId: 's',
        tokenId: 'j',
        isSystemAdmin: true,
      },
    };
    for (const query of ['{ addedLaterField }', '{ addedLaterObject { secret } }']) {
      const result = await execute({ schema, document: parse(query), contextValue });
      expect(result.errors?.[0]?.extensions?.code, query).toBe('FORBIDDEN');
      expect(JSON.stringify(result.data ?? null)).not.toContain('should never be served');
    }
  });
});
