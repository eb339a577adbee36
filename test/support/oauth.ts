import * as client from 'openid-client';
import { type Actor, ok } from './fixtures.js';
import { freePort } from './process.js';
import { startTestServer, type TestServer, useTestServer } from './server.js';

/**
 * Service accounts and a real OAuth client (openid-client) against a test server whose
 * PUBLIC_URL is its own address, so the metadata's issuer is the URL discovery starts from.
 */
export async function startOAuthServer(env: Record<string, string> = {}): Promise<TestServer> {
  return startTestServer(await ownAddress(env));
}

/** `startOAuthServer` as `useTestServer`: one for the file or `describe`, started and closed by hooks. */
export function useOAuthServer(env: Record<string, string> = {}): TestServer {
  return useTestServer(() => ownAddress(env));
}

async function ownAddress(env: Record<string, string>): Promise<Record<string, string>> {
  const port = await freePort();
  return { PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}`, ...env };
}

export const CREATE_SERVICE_ACCOUNT = `mutation ($input: CreateServiceAccountInput!) {
  createServiceAccount(input: $input) {
    clientId clientSecret
    serviceAccount { id name description clientId scopes status createdAt updatedAt lastUsedAt tenant { id slug }
      secrets { id hint createdAt expiresAt lastUsedAt } }
  }
}`;

export interface ServiceAccountHandle {
  id: string;
  clientId: string;
  clientSecret: string;
  tenantId: string;
}

export async function makeServiceAccount(
  server: TestServer,
  admin: Actor,
  scopes: string[],
  options: { name?: string; tenantId?: string } = {},
): Promise<ServiceAccountHandle> {
  const data = ok(
    await server.gql(
      CREATE_SERVICE_ACCOUNT,
      { input: { name: options.name ?? 'billing', scopes, tenantId: options.tenantId } },
      { token: admin.token },
    ),
  );
  const created = data.createServiceAccount;
  return {
    id: created.serviceAccount.id,
    clientId: created.clientId,
    clientSecret: created.clientSecret,
    tenantId: created.serviceAccount.tenant.id,
  };
}

/** openid-client's configuration for a service account, by discovery over plain HTTP. */
export function discover(
  server: TestServer,
  account: Pick<ServiceAccountHandle, 'clientId' | 'clientSecret'>,
  method: 'basic' | 'post' = 'basic',
): Promise<client.Configuration> {
  return client.discovery(
    new URL(server.url),
    account.clientId,
    undefined,
    method === 'basic'
      ? client.ClientSecretBasic(account.clientSecret)
      : client.ClientSecretPost(account.clientSecret),
    { execute: [client.allowInsecureRequests] },
  );
}

/** A raw form POST (for what client libraries never send). */
export async function postForm(
  server: TestServer,
  path: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> | null }> {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : null };
}

export function basicAuth(clientId: string, secret: string): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(secret)}`).toString('base64')}`;
}
