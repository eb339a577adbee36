import type { WebSocket } from 'ws';
import { ROLE_RANK } from '../kernel/enums.js';
import { UnauthenticatedError } from '../kernel/errors.js';
import type { Caller, Deps } from './context.js';

/**
 * WebSocket close codes the server uses (documented in the README). 4401 means "get a fresh
 * access token (refresh) and reconnect"; 4403 that the session is over (sign in again); 1013
 * that subscriptions are unavailable for now (graphql-ws clients retry by themselves).
 */
export const CLOSE = {
  unauthorized: { code: 4401, reason: 'Unauthorized' },
  tokenExpired: { code: 4401, reason: 'Token expired' },
  sessionEnded: { code: 4403, reason: 'Session ended' },
  permissionsChanged: { code: 4401, reason: 'Permissions changed' },
  credentialRevoked: { code: 4403, reason: 'Credential revoked' },
  unavailable: { code: 1013, reason: 'Subscriptions unavailable; try again later' },
} as const;

type Close = (typeof CLOSE)[keyof typeof CLOSE];

interface Connection {
  caller: Caller;
  checkedAt: number;
  closing: boolean;
}

export interface ConnectionWatchOptions {
  /** How often expiry is checked (the service's clock decides when a token has expired). */
  sweepMs?: number;
  /** How often each connection's session is checked again, as a safety net behind invalidations. */
  recheckMs?: number;
  /** Delay between learning a session ended and closing its sockets, so its sessionEnded goes out first. */
  graceMs?: number;
}

/**
 * Keeps every open WebSocket honest after it was accepted: closed with 4401 when its access
 * token expires, with 4403 within a second of its session ending on any instance (every
 * instance hears of ended sessions through the cache invalidations), with 4401 "Permissions
 * changed" when its user is demoted (or loses system rights), and with 1013 while Redis is
 * unreachable (events could not reach it; the client reconnects once it is back).
 *
 * The close is a courtesy to the client, not the protection: every operation on the socket is
 * authenticated again when it starts (ws.ts), so nothing sent during the grace before a close
 * runs with rights the caller no longer has.
 */
export class ConnectionWatch {
  readonly #connections = new Map<WebSocket, Connection>();
  readonly #timer: NodeJS.Timeout;
  readonly #graceMs: number;
  readonly #recheckMs: number;
  #sweeping = false;
  #closed = false;

  constructor(
    private readonly services: Deps,
    options: ConnectionWatchOptions = {},
  ) {
    this.#graceMs = options.graceMs ?? 250;
    this.#recheckMs = options.recheckMs ?? 30_000;
    services.cache.bus.onApply((change) => {
      if (change?.kind === 'keys' && change.entity === 'session') {
        const ended = new Set(change.ids);
        this.#closeWhere(
          (c) => c.caller.kind === 'user' && ended.has(c.caller.sessionId),
          CLOSE.sessionEnded,
          this.#graceMs,
        );
      } else if (change?.kind === 'keys' && change.entity === 'user') {
        const changed = new Set(change.ids);
        for (const [socket, connection] of this.#connections) {
          const { caller } = connection;
          if (
            !connection.closing &&
            caller.kind === 'user' &&
            caller.tenantId === change.tenantId &&
            changed.has(caller.userId)
          ) {
            void this.#recheck(socket, connection, this.#graceMs);
          }
        }
      } else if (
        change?.kind === 'keys' &&
        (change.entity === 'serviceAccount' || change.entity === 'apiKey')
      ) {
        // A service's account, secrets, revoked tokens or keys changed: check its credential
        // again (an API key is named by its hash, which the connection does not hold).
        const changed = new Set(change.ids);
        for (const [socket, connection] of this.#connections) {
          const { caller } = connection;
          if (
            !connection.closing &&
            caller.kind === 'service' &&
            caller.tenantId === change.tenantId &&
            (change.entity === 'apiKey' || changed.has(caller.serviceAccountId))
          ) {
            void this.#recheck(socket, connection, this.#graceMs);
          }
        }
      } else if (change?.kind === 'tenant') {
        this.#closeWhere((c) => c.caller.tenantId === change.tenantId, CLOSE.sessionEnded, this.#graceMs);
      }
    });
    services.events.on('availability', (available) => {
      if (!available) this.#closeWhere(() => true, CLOSE.unavailable, 0);
    });
    this.#timer = setInterval(() => void this.#sweep(), options.sweepMs ?? 1_000);
    this.#timer.unref();
  }

  get size(): number {
    return this.#connections.size;
  }

  add(socket: WebSocket, caller: Caller): void {
    this.#connections.set(socket, { caller, checkedAt: this.services.clock.now().getTime(), closing: false });
    socket.once('close', () => this.#connections.delete(socket));
  }

  /** The caller as the connection's latest operation found them (their role may have changed). */
  update(socket: WebSocket, caller: Caller): void {
    const connection = this.#connections.get(socket);
    if (connection) connection.caller = caller;
  }

  /** Whether the connection's access token has expired by the service's clock. */
  tokenExpired(socket: WebSocket): boolean {
    const expiresAt = this.#connections.get(socket)?.caller.tokenExpiresAt;
    return expiresAt !== undefined && expiresAt.getTime() <= this.services.clock.now().getTime();
  }

  /** Closes one connection at once (its session or token no longer passes). */
  closeNow(socket: WebSocket, close: Close): void {
    const connection = this.#connections.get(socket);
    if (connection) connection.closing = true;
    socket.close(close.code, close.reason);
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#connections.clear();
  }

  #closeWhere(match: (connection: Connection) => boolean, close: Close, delayMs: number): void {
    for (const [socket, connection] of this.#connections) {
      if (connection.closing || !match(connection)) continue;
      connection.closing = true;
      const shut = () => socket.close(close.code, close.reason);
      if (delayMs > 0) setTimeout(shut, delayMs).unref();
      else shut();
    }
  }

  /**
   * Reads the connection's session, user and tenant as they are now: closes it when the session
   * no longer passes (4403) or the user's rights shrank (4401, the client reconnects with a
   * fresh token and today's role), after `delayMs` so that the events announcing the change
   * reach the client first.
   */
  async #recheck(socket: WebSocket, connection: Connection, delayMs: number): Promise<void> {
    connection.checkedAt = this.services.clock.now().getTime();
    const { caller } = connection;
    let close: Close | undefined;
    try {
      if (caller.kind === 'user') {
        const { sessionId, tenantId, userId, role, isSystemAdmin } = caller;
        const active = await this.services.sessionGuard.check(sessionId, tenantId, userId);
        const systemAdminNow = active.role === 'ADMIN' && active.tenantIsSystem;
        if (ROLE_RANK[active.role] < ROLE_RANK[role] || (isSystemAdmin && !systemAdminNow)) {
          close = CLOSE.permissionsChanged;
        }
      } else {
        // The same credential, checked against the account as it is now.
        if (!caller.renew) throw new UnauthenticatedError();
        const now = await caller.renew();
        if (now.kind !== 'service' || caller.scopes.some((scope) => !now.scopes.includes(scope))) {
          close = CLOSE.permissionsChanged;
        }
      }
    } catch (error) {
      // Only a definite "no": a database hiccup must not disconnect everyone.
      if (error instanceof UnauthenticatedError) {
        close = caller.kind === 'user' ? CLOSE.sessionEnded : CLOSE.credentialRevoked;
      }
    }
    if (!close || connection.closing || !this.#connections.has(socket)) return;
    connection.closing = true;
    const { code, reason } = close;
    if (delayMs > 0) setTimeout(() => socket.close(code, reason), delayMs).unref();
    else socket.close(code, reason);
  }

  async #sweep(): Promise<void> {
    if (this.#sweeping || this.#closed) return;
    this.#sweeping = true;
    try {
      const now = this.services.clock.now().getTime();
      this.#closeWhere(
        (c) => c.caller.tokenExpiresAt !== undefined && c.caller.tokenExpiresAt.getTime() <= now,
        CLOSE.tokenExpired,
        0,
      );
      for (const [socket, connection] of this.#connections) {
        if (connection.closing || now - connection.checkedAt < this.#recheckMs) continue;
        await this.#recheck(socket, connection, 0);
      }
    } finally {
      this.#sweeping = false;
    }
  }
}
