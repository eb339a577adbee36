import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import type { GraphQLResponse, TestServer } from './server.js';

const printed = new WeakMap<object, string>();

/**
 * Sends one of the generated typed documents (src/client/generated, from src/client/operations)
 * the way a client would, so the variables and the answer are checked by the compiler: a schema
 * change that breaks those operations breaks `npm run typecheck`.
 */
export async function typedGql<TData, TVariables extends Record<string, unknown>>(
  server: Pick<TestServer, 'gql'>,
  document: TypedDocumentNode<TData, TVariables>,
  variables: TVariables,
  token?: string,
): Promise<GraphQLResponse<TData>> {
  let query = printed.get(document);
  if (query === undefined) {
    query = print(document);
    printed.set(document, query);
  }
  return server.gql<TData>(query, variables, token ? { token } : {});
}

/** The data of an answer that must have succeeded; otherwise fails with the errors. */
export function dataOf<TData>(response: GraphQLResponse<TData>): TData {
  if (response.errors?.length || !response.data) {
    throw new Error(`expected data, got HTTP ${response.status}: ${JSON.stringify(response.errors)}`);
  }
  return response.data;
}
