import { createHmac } from 'node:crypto';
import { AUTH_PAYLOAD_FIELDS, type AuthPayload, type SignedIn } from './fixtures.js';
import type { GraphQLResponse, TestServer } from './server.js';

/**
 * Second factors as a user's authenticator app computes them: RFC 6238 written out here, from
 * the secret the API handed over, so the tests do not trust the service's own TOTP library.
 */

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32Decode(text: string): Buffer {
  let bits = 0;
  let value = 0;
  const bytes: number[] = [];
  for (const char of text.replace(/=+$/, '').toUpperCase()) {
    const index = BASE32.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${char}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(bytes);
}

/** The 6-digit code for `at` (SHA-1, 30-second steps). */
export function totpCode(secret: string, at: Date): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at.getTime() / 30_000)));
  const digest = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = (digest[digest.length - 1] as number) & 0x0f;
  const binary = digest.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 1_000_000).padStart(6, '0');
}

/** The payload of a JWT, unverified (the tests read claims the API put there). */
export function jwtClaims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
}

export const START_TOTP = 'mutation { startTotpEnrollment { secret otpauthUri } }';
export const CONFIRM_TOTP =
  'mutation Confirm($input: ConfirmTotpInput!) { confirmTotpEnrollment(input: $input) { codes } }';
export const COMPLETE_MFA_LOGIN = `mutation Complete($input: CompleteMfaLoginInput!) {
  completeMfaLogin(input: $input) { ${AUTH_PAYLOAD_FIELDS} } }`;
export const MY_MFA =
  '{ myMfa { totpEnabled recoveryCodesRemaining passkeys { id name createdAt lastUsedAt } } }';

export interface TotpUser extends SignedIn {
  secret: string;
  recoveryCodes: string[];
}

/** Turns TOTP on for a signed-in user; the clock then moves to the next step (codes work once per step). */
export async function enrolTotp(server: TestServer, user: SignedIn): Promise<TotpUser> {
  const started = await server.gql(START_TOTP, {}, { token: user.accessToken });
  const secret = started.data?.startTotpEnrollment?.secret as string | undefined;
  if (!secret) throw new Error(`startTotpEnrollment failed: ${JSON.stringify(started.errors)}`);
  const confirmed = await server.gql(
    CONFIRM_TOTP,
    { input: { code: totpCode(secret, server.clock.now()) } },
    { token: user.accessToken },
  );
  const codes = confirmed.data?.confirmTotpEnrollment?.codes as string[] | undefined;
  if (!codes) throw new Error(`confirmTotpEnrollment failed: ${JSON.stringify(confirmed.errors)}`);
  server.clock.advance(30_000);
  return { ...user, secret, recoveryCodes: codes };
}

/** The first step: a password sign-in expected to answer MFA_REQUIRED; its mfaToken and methods. */
export async function passwordStep(
  server: TestServer,
  user: Pick<SignedIn, 'tenant' | 'email' | 'password'>,
): Promise<{ mfaToken: string; methods: string[]; response: GraphQLResponse }> {
  const response = await server.gql(
    `mutation Login($input: LoginInput!) { login(input: $input) { accessToken } }`,
    { input: { tenant: user.tenant, email: user.email, password: user.password } },
  );
  const error = response.errors?.[0];
  if (error?.extensions?.code !== 'MFA_REQUIRED') {
    throw new Error(`expected MFA_REQUIRED, got ${JSON.stringify(response.errors ?? response.data)}`);
  }
  return {
    mfaToken: error.extensions.mfaToken as string,
    methods: error.extensions.methods as string[],
    response,
  };
}

export function completeWithCode(
  server: TestServer,
  mfaToken: string,
  method: 'TOTP' | 'RECOVERY_CODE',
  code: string,
): Promise<GraphQLResponse<{ completeMfaLogin: AuthPayload }>> {
  return server.gql(COMPLETE_MFA_LOGIN, { input: { mfaToken, method, code } });
}
