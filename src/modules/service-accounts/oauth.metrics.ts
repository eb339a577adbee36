import { Counter, type Registry } from 'prom-client';

export type GrantOutcome =
  | 'issued'
  | 'invalid_client'
  | 'invalid_request'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'rate_limited';

export type IntrospectionOutcome =
  | 'active'
  | 'inactive'
  | 'invalid_client'
  | 'insufficient_scope'
  | 'invalid_request'
  | 'rate_limited';

const GRANT_OUTCOMES: GrantOutcome[] = [
  'issued',
  'invalid_client',
  'invalid_request',
  'unsupported_grant_type',
  'invalid_scope',
  'rate_limited',
];
const INTROSPECTION_OUTCOMES: IntrospectionOutcome[] = [
  'active',
  'inactive',
  'invalid_client',
  'insufficient_scope',
  'invalid_request',
  'rate_limited',
];

/** Counters of the OAuth endpoints, in the app's own registry. */
export class OAuthMetrics {
  readonly #grants: Counter<'outcome'>;
  readonly #introspections: Counter<'outcome'>;

  constructor(registry: Registry) {
    this.#grants = new Counter({
      name: 'identity_oauth_token_requests_total',
      help: 'POST /oauth/token requests by outcome: issued, or the OAuth error answered.',
      labelNames: ['outcome'],
      registers: [registry],
    });
    this.#introspections = new Counter({
      name: 'identity_oauth_introspections_total',
      help: 'POST /oauth/introspect requests by outcome: active, inactive, or the error answered.',
      labelNames: ['outcome'],
      registers: [registry],
    });
    for (const outcome of GRANT_OUTCOMES) this.#grants.labels(outcome).inc(0);
    for (const outcome of INTROSPECTION_OUTCOMES) this.#introspections.labels(outcome).inc(0);
  }

  grant(outcome: GrantOutcome): void {
    this.#grants.labels(outcome).inc();
  }

  introspection(outcome: IntrospectionOutcome): void {
    this.#introspections.labels(outcome).inc();
  }
}
