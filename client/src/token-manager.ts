import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import {
  LoginDocument,
  type LoginInput,
  type LoginMutation,
  LogoutDocument,
  RefreshDocument,
} from './generated/v1.js';

/** What a session needs on the client: the pair of tokens and when each expires (ISO 8601). */
export interface Tokens {
  accessToken: string;
  accessTokenExpiresAt: string;
  refreshToken: string;
  refreshTokenExpiresAt: string;
}

/**
 * Where the tokens live. The default keeps them in this manager's memory. Pages (tabs) that share
 * one session pass a store they all read, so a tab that waited for the refresh lock finds the
 * tokens another tab just got instead of spending the same refresh token again.
 */
export interface TokenStore {
  load(): Tokens | null | Promise<Tokens | null>;
  save(tokens: Tokens | null): void | Promise<void>;
}

export function memoryStore(): TokenStore {
  let kept: Tokens | null = null;
  return {
    load: () => kept,
    save: (tokens) => {
      kept = tokens;
    },
  };
}

/** The part of the Web Locks API (navigator.locks) the manager uses. */
export interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

/** Why the session ended: `logout` (signOut), `expired` (refresh refused) or `revoked` (a fresh token refused). */
export type SignedOutReason = 'logout' | 'expired' | 'revoked';

export interface TokenManagerOptions {
  /** The GraphQL endpoint, e.g. https://identity.example.com/graphql. */
  url: string;
  fetch?: typeof fetch;
  /** Milliseconds since the epoch; inject a clock to test expiry. */
  now?: () => number;
  /** How long before the access token expires it is renewed (default 60 s, at most half its lifetime). */
  refreshBeforeExpiryMs?: number;
  store?: TokenStore;
  /** Coordinates refreshes across tabs; default: navigator.locks where the platform has it. `null`: none. */
  locks?: LockManagerLike | null;
  /** The Web Lock's name (one per API and session store). */
  lockName?: string;
}

/** An answer with errors; `code` is the first error's `extensions.code`. */
export class GraphQLRequestError extends Error {
  override name = 'GraphQLRequestError';
  constructor(
    readonly status: number,
    readonly errors: { message: string; extensions?: { code?: string } & Record<string, unknown> }[],
  ) {
    super(errors[0]?.message ?? `HTTP ${status}`);
  }
  get code(): string | undefined {
    return this.errors[0]?.extensions?.code;
  }
}

interface Answer<TData> {
  status: number;
  data?: TData | null;
  errors?: GraphQLRequestError['errors'];
}

type Listeners = { signedOut: (reason: SignedOutReason) => void; tokens: (tokens: Tokens) => void };

/**
 * Keeps a session's tokens and sends operations with them: renews the access token shortly before
 * it expires (one refresh at a time, across tabs too where Web Locks exist), retries an operation
 * once after refreshing when the API answers UNAUTHENTICATED, and emits `signedOut` when the
 * session cannot go on.
 */
export class TokenManager {
  readonly #url: string;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #refreshBefore: number;
  readonly #store: TokenStore;
  readonly #locks: LockManagerLike | null;
  readonly #lockName: string;
  readonly #listeners: { [K in keyof Listeners]: Set<Listeners[K]> } = {
    signedOut: new Set(),
    tokens: new Set(),
  };
  #tokens: Tokens | null = null;
  #refreshing: Promise<Tokens | null> | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: TokenManagerOptions) {
    this.#url = options.url;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#now = options.now ?? Date.now;
    this.#refreshBefore = options.refreshBeforeExpiryMs ?? 60_000;
    this.#store = options.store ?? memoryStore();
    const platform = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
    this.#locks = options.locks === undefined ? (platform ?? null) : options.locks;
    this.#lockName = options.lockName ?? `identity-api refresh ${this.#url}`;
  }

  on<K extends keyof Listeners>(event: K, listener: Listeners[K]): () => void {
    this.#listeners[event].add(listener);
    return () => this.#listeners[event].delete(listener);
  }

  get signedIn(): boolean {
    return this.#tokens !== null;
  }

  /** Signs in with `login` and keeps the tokens; returns the whole answer (user, session). */
  async signIn(input: LoginInput): Promise<LoginMutation['login']> {
    const answer = await this.#post(LoginDocument, { input }, null);
    if (answer.errors?.length || !answer.data)
      throw new GraphQLRequestError(answer.status, answer.errors ?? []);
    await this.useTokens(answer.data.login);
    return answer.data.login;
  }

  /** Keeps tokens obtained otherwise (register, or tokens another tab saved). */
  async useTokens(tokens: Tokens): Promise<void> {
    const kept = pick(tokens);
    await this.#store.save(kept);
    this.#adopt(kept);
  }

  /** Loads the tokens the store holds (another tab's session), if any. */
  async resume(): Promise<boolean> {
    const stored = await this.#store.load();
    if (stored) this.#adopt(stored);
    return stored !== null;
  }

  /** Ends this session at the API (best effort) and forgets the tokens. */
  async signOut(): Promise<void> {
    const token = this.#tokens?.accessToken ?? null;
    if (token) await this.#post(LogoutDocument, {}, token).catch(() => undefined);
    await this.#end('logout');
  }

  /** A valid access token, renewed first when it is about to expire; null when signed out. */
  async accessToken(): Promise<string | null> {
    const tokens = this.#tokens;
    if (!tokens) return null;
    if (this.#dueSoon(tokens)) return (await this.refresh())?.accessToken ?? null;
    return tokens.accessToken;
  }

  /**
   * Sends an operation with the access token. An UNAUTHENTICATED answer gets one refresh and one
   * retry; errors are thrown as GraphQLRequestError.
   */
  async request<TData, TVariables extends Record<string, unknown>>(
    document: TypedDocumentNode<TData, TVariables>,
    variables?: TVariables,
  ): Promise<TData> {
    const token = await this.accessToken();
    const sent = variables ?? ({} as TVariables);
    let answer = await this.#post(document, sent, token);
    if (token && unauthenticated(answer)) {
      // Another refresh may have finished meanwhile; otherwise renew now.
      const renewed =
        this.#tokens && this.#tokens.accessToken !== token ? this.#tokens : await this.refresh();
      if (renewed) {
        answer = await this.#post(document, sent, renewed.accessToken);
        if (unauthenticated(answer)) await this.#end('revoked');
      }
    }
    if (answer.errors?.length || answer.data === undefined || answer.data === null) {
      throw new GraphQLRequestError(answer.status, answer.errors ?? []);
    }
    return answer.data;
  }

  /** Renews the tokens now; one refresh at a time in this manager, and across tabs under the Web Lock. */
  refresh(): Promise<Tokens | null> {
    this.#refreshing ??= this.#refreshUnderLock().finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  /** Stops the renewal timer (the tokens stay). */
  dispose(): void {
    clearTimeout(this.#timer);
  }

  async #refreshUnderLock(): Promise<Tokens | null> {
    const spent = this.#tokens?.refreshToken;
    const run = () => this.#refreshOnce(spent);
    return this.#locks ? this.#locks.request(this.#lockName, run) : run();
  }

  async #refreshOnce(spent: string | undefined): Promise<Tokens | null> {
    const stored = await this.#store.load();
    // Another tab refreshed while this one waited for the lock: use its tokens.
    if (stored && stored.refreshToken !== spent && !this.#dueSoon(stored)) {
      this.#adopt(stored);
      return stored;
    }
    const current = stored ?? this.#tokens;
    if (!current) return null;
    const answer = await this.#post(RefreshDocument, { input: { refreshToken: current.refreshToken } }, null);
    if (answer.errors?.length || !answer.data) {
      const code = answer.errors?.[0]?.extensions?.code;
      if (code === 'UNAUTHENTICATED' || code === 'BAD_USER_INPUT') {
        await this.#end('expired');
        return null;
      }
      // Unreachable or unavailable: keep the tokens, the caller may try again.
      throw new GraphQLRequestError(answer.status, answer.errors ?? []);
    }
    const renewed = pick(answer.data.refresh);
    await this.#store.save(renewed);
    this.#adopt(renewed);
    return renewed;
  }

  #adopt(tokens: Tokens): void {
    this.#tokens = tokens;
    clearTimeout(this.#timer);
    const wait = Math.max(0, this.#renewAt(tokens) - this.#now());
    this.#timer = setTimeout(() => {
      this.refresh().catch(() => undefined);
    }, wait);
    // In Node, a pending renewal does not keep the process alive.
    (this.#timer as { unref?: () => void }).unref?.();
    for (const listener of this.#listeners.tokens) listener(tokens);
  }

  async #end(reason: SignedOutReason): Promise<void> {
    const wasSignedIn = this.#tokens !== null;
    this.#tokens = null;
    clearTimeout(this.#timer);
    await this.#store.save(null);
    if (wasSignedIn) for (const listener of this.#listeners.signedOut) listener(reason);
  }

  #renewAt(tokens: Tokens): number {
    const expires = Date.parse(tokens.accessTokenExpiresAt);
    const lifetime = Math.max(0, expires - this.#now());
    return expires - Math.min(this.#refreshBefore, lifetime / 2);
  }

  #dueSoon(tokens: Tokens): boolean {
    return this.#now() >= Date.parse(tokens.accessTokenExpiresAt) - this.#refreshBefore;
  }

  async #post<TData, TVariables>(
    document: TypedDocumentNode<TData, TVariables>,
    variables: TVariables,
    token: string | null,
  ): Promise<Answer<TData>> {
    const response = await this.#fetch(this.#url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify({ query: printed(document), variables }),
    });
    const body = (await response.json().catch(() => ({}))) as Omit<Answer<TData>, 'status'>;
    return { status: response.status, ...body };
  }
}

const printedDocuments = new WeakMap<object, string>();
// biome-ignore lint/suspicious/noExplicitAny: any document, whatever its data and variables
function printed(document: TypedDocumentNode<any, any>): string {
  let text = printedDocuments.get(document);
  if (text === undefined) {
    text = print(document);
    printedDocuments.set(document, text);
  }
  return text;
}

function unauthenticated(answer: Answer<unknown>): boolean {
  return (
    answer.status === 401 ||
    answer.errors?.some((error) => error.extensions?.code === 'UNAUTHENTICATED') === true
  );
}

function pick(tokens: Tokens): Tokens {
  return {
    accessToken: tokens.accessToken,
    accessTokenExpiresAt: tokens.accessTokenExpiresAt,
    refreshToken: tokens.refreshToken,
    refreshTokenExpiresAt: tokens.refreshTokenExpiresAt,
  };
}
