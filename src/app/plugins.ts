import type { ApolloServerPlugin, GraphQLRequestListener } from '@apollo/server';
import { type DocumentNode, type GraphQLFormattedError, Kind, type SelectionSetNode } from 'graphql';
import { actorIdOf, auditActor } from '../kernel/caller.js';
import { recordAuthzDenial } from '../modules/audit/audit.service.js';
import type { Context, Deps } from './context.js';

/** What the GraphQL layer adds to a request's log line. */
export interface RequestLogDetails {
  operationName?: string | null;
  tenantId?: string | null;
  userId?: string | null;
  errorCodes?: string[];
}

/**
 * The HTTP layer writes one structured log line per request to /graphql (so requests refused
 * before GraphQL runs — a bad token, a CSRF or batching refusal, an oversized body — are logged
 * too); the GraphQL layer fills in the operation, the caller and the error codes it sent, found
 * by request id. Variables are never logged (they carry passwords and tokens).
 */
export class RequestLog {
  readonly #open = new Map<string, RequestLogDetails>();

  open(requestId: string): RequestLogDetails {
    const details: RequestLogDetails = {};
    this.#open.set(requestId, details);
    return details;
  }

  get(requestId: string | undefined): RequestLogDetails | undefined {
    return requestId === undefined ? undefined : this.#open.get(requestId);
  }

  close(requestId: string): void {
    this.#open.delete(requestId);
  }
}

export function codesOf(errors: readonly GraphQLFormattedError[] | undefined): string[] {
  return (errors ?? []).map((error) => String(error.extensions?.code ?? 'INTERNAL_SERVER_ERROR'));
}

export function requestLogPlugin(log: RequestLog): ApolloServerPlugin<Context> {
  // One listener for every request: it keeps no state of its own.
  const listener: GraphQLRequestListener<Context> = {
    async willSendResponse({ response, contextValue, operationName, request }) {
      const ctx = contextValue as Partial<Context> | undefined;
      const details = log.get(ctx?.requestId);
      if (!details) return;
      const body = response.body.kind === 'single' ? response.body.singleResult : undefined;
      const codes = codesOf(body?.errors);
      // The client's own name when none of the document's operations matched it: cut short.
      details.operationName = (operationName ?? request.operationName)?.slice(0, 100) ?? null;
      // An anonymous sign-in is logged under the account it signed in.
      details.tenantId = ctx?.caller?.tenantId ?? ctx?.signedInAs?.tenantId ?? null;
      details.userId = ctx?.caller ? actorIdOf(ctx.caller) : (ctx?.signedInAs?.userId ?? null);
      details.errorCodes = codes;
    },
  };
  return { requestDidStart: async () => listener };
}

/**
 * What the HTTP layer and the audit trail make of an answer: an operation refused as a whole for
 * rate limiting is HTTP 429 with Retry-After, and every FORBIDDEN answer to a signed-in caller is
 * recorded as `authz.denied` (one row per caller and field a minute, with a count).
 */
export function outcomePlugin(
  services: Pick<Deps, 'db' | 'clock' | 'logger' | 'commitEffects'>,
): ApolloServerPlugin<Context> {
  const listener: GraphQLRequestListener<Context> = {
    async willSendResponse({ response, contextValue, operation, document }) {
      if (response.body.kind !== 'single') return;
      const { errors } = response.body.singleResult;
      if (!errors?.length) return;
      const limited = errors.filter((error) => error.extensions?.code === 'RATE_LIMITED');
      // Refused as a whole: every root field of the operation was refused. A null `data` alone
      // says nothing: one refused non-null field nulls it after others already signed in.
      const refusedKeys = new Set(
        limited.filter((e) => e.path?.length === 1).map((e) => String(e.path?.[0])),
      );
      const keys =
        operation && document ? rootResponseKeys(operation.selectionSet, document) : new Set<string>();
      const wholeOperationRefused =
        limited.length === errors.length && keys.size > 0 && [...keys].every((key) => refusedKeys.has(key));
      if (wholeOperationRefused) {
        const retryAfter = Math.max(
          ...limited.map((error) => Number(error.extensions?.retryAfterSeconds ?? 1)),
        );
        response.http.status = 429;
        response.http.headers.set('retry-after', String(retryAfter));
      }
      await auditDenials(services, contextValue, errors);
    },
  };
  return { requestDidStart: async () => listener };
}

/**
 * Records the FORBIDDEN answers among `errors` to a signed-in caller as `authz.denied`: one row
 * per caller and refused root field a minute, counting (recordAuthzDenial). Over HTTP from the
 * plugin above, over the WebSocket from each result of an operation.
 */
export async function auditDenials(
  services: Pick<Deps, 'db' | 'clock' | 'logger' | 'commitEffects'>,
  contextValue: Pick<Context, 'caller' | 'origin'> | undefined,
  errors: readonly GraphQLFormattedError[],
): Promise<void> {
  const caller = contextValue?.caller;
  const denied = errors.filter((error) => error.extensions?.code === 'FORBIDDEN');
  if (!caller || !contextValue || denied.length === 0) return;
  const byField = new Map<string, (string | null)[]>();
  for (const error of denied) {
    const field = String(error.path?.[0] ?? '(operation)');
    byField.set(field, [...(byField.get(field) ?? []), error.path?.join('.') ?? null]);
  }
  const holding = caller.kind === 'user' ? { role: caller.role } : { scopes: caller.scopes };
  for (const [field, paths] of byField) {
    await recordAuthzDenial(services, contextValue.origin, {
      tenantId: caller.tenantId,
      ...auditActor(caller),
      field,
      paths,
      holding,
      at: services.clock.now(),
    }).catch((error: unknown) => services.logger.warn({ err: error }, 'could not record authz.denied'));
  }
}

/** The response keys an operation's root selection asks for, through fragments too. */
function rootResponseKeys(
  set: SelectionSetNode,
  document: DocumentNode,
  seen = new Set<string>(),
): Set<string> {
  const keys = new Set<string>();
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) keys.add(selection.alias?.value ?? selection.name.value);
    else if (selection.kind === Kind.INLINE_FRAGMENT) {
      for (const key of rootResponseKeys(selection.selectionSet, document, seen)) keys.add(key);
    } else if (!seen.has(selection.name.value)) {
      seen.add(selection.name.value);
      const fragment = document.definitions.find(
        (d) => d.kind === Kind.FRAGMENT_DEFINITION && d.name.value === selection.name.value,
      );
      if (fragment?.kind === Kind.FRAGMENT_DEFINITION) {
        for (const key of rootResponseKeys(fragment.selectionSet, document, seen)) keys.add(key);
      }
    }
  }
  return keys;
}
