// Talking to the service the way a client does: GraphQL over HTTP, signing in for tokens.

export const ME = '{ me { id email role tenant { slug } } }';
export const LOGIN =
  'mutation Login($input: LoginInput!) { login(input: $input) { accessToken refreshToken user { id } } }';
export const REFRESH =
  'mutation Refresh($input: RefreshInput!) { refresh(input: $input) { accessToken accessTokenExpiresAt refreshToken } }';

export async function gql(url, query, variables, { token, headers = {} } = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: JSON.stringify(variables ? { query, variables } : { query }),
    signal: AbortSignal.timeout(30_000),
  });
  const body = await response.json().catch(() => ({}));
  return { status: response.status, ...body };
}

/** Like gql, but any error is a failure of the harness (a scenario that cannot be set up). */
export async function gqlOk(url, query, variables, options) {
  const result = await gql(url, query, variables, options);
  if (result.status !== 200 || result.errors?.length || !result.data) {
    throw new Error(
      `unexpected answer to ${query.slice(0, 80)}…: HTTP ${result.status} ${JSON.stringify(result.errors ?? result).slice(0, 400)}`,
    );
  }
  return result.data;
}

/** Signs each user in (a few at a time); resolves to { token, refreshToken, userId, sessionId }. */
export async function signIn(url, tenant, users, password, { concurrency = 4 } = {}) {
  const out = new Array(users.length);
  let next = 0;
  const worker = async () => {
    while (next < users.length) {
      const i = next++;
      const data = await gqlOk(url, LOGIN, { input: { tenant, email: users[i].email, password } });
      out[i] = {
        token: data.login.accessToken,
        refreshToken: data.login.refreshToken,
        userId: data.login.user.id,
        sessionId: claims(data.login.accessToken).sid,
      };
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, users.length) }, worker));
  return out;
}

export function claims(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}

/** The benchmark's own METRICS_TOKEN for the services it starts (not a secret: loopback only). */
export const BENCH_METRICS_TOKEN = 'bench-metrics-token-not-secret';

/** The service's Prometheus text, or undefined when it cannot be read. */
export async function fetchMetrics(baseUrl) {
  const response = await fetch(`${baseUrl}/metrics`, {
    headers: { authorization: `Bearer ${BENCH_METRICS_TOKEN}` },
    signal: AbortSignal.timeout(5_000),
  });
  return response.status === 200 ? response.text() : undefined;
}

/** SQL statements the service has sent so far (its identity_db_statements_total metric). */
export async function statementCount(baseUrl) {
  try {
    const text = await fetchMetrics(baseUrl);
    if (text === undefined) return undefined;
    const match = /^identity_db_statements_total (\d+)/m.exec(text);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The names of the schema's subscription fields ([] when it has no Subscription type). */
export async function subscriptionFields(graphqlUrl) {
  const result = await gql(graphqlUrl, '{ __schema { subscriptionType { fields { name } } } }');
  if (result.errors?.length)
    throw new Error(`introspection refused: ${JSON.stringify(result.errors).slice(0, 200)}`);
  return result.data?.__schema?.subscriptionType?.fields?.map((field) => field.name) ?? [];
}
