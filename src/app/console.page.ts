import type { GraphQLSchema } from 'graphql';

/*
 * The browser side of the GraphiQL console (served by console.ts): the page, the default tabs and
 * the script that signs in and hands the access token to GraphiQL. The script is plain
 * JavaScript in a string because the server's TypeScript has no DOM types and dist/ holds only
 * compiled files; test/console.browser.test.ts runs it in Chromium.
 */

export interface ConsoleTab {
  query: string;
  variables?: string;
}

const HOW_TO = `# Identity API console
#
# Sign in with the bar above. The console then
# sends  Authorization: Bearer <access token>
# with every request (and in the WebSocket
# connectionParams of subscriptions), and renews
# the token before it expires. Tokens stay in
# this browser tab, never in localStorage.
#
# By hand instead: run the "SignIn" tab, copy
# data.login.accessToken, and paste into the
# Headers pane below:
#   { "Authorization": "Bearer <accessToken>" }
# (a header set there wins over the bar's).
#
# Run with Ctrl-Enter or the ▶ button.
`;

const SUBSCRIPTIONS: Record<string, string> = {
  sessionEnded:
    'subscription SessionEnded {\n  sessionEnded {\n    sessionId\n    userId\n    reason\n    at\n  }\n}\n',
  userChanged:
    'subscription UserChanged {\n  userChanged {\n    id\n    email\n    role\n    status\n  }\n}\n',
  auditEventAdded:
    'subscription AuditFeed {\n  auditEventAdded {\n    id\n    action\n    actorId\n    targetType\n    targetId\n    createdAt\n  }\n}\n',
};

/** ADMINs: a service account for a backend, its credentials shown in the answer this once. */
const SERVICE_ACCOUNT_TAB: ConsoleTab = {
  query:
    '# Service accounts (ADMINs): credentials for\n' +
    '# another service. Run this once: the answer holds\n' +
    '# clientId and clientSecret, shown this one time\n' +
    '# only (the server keeps a hash): copy both now.\n' +
    '# A lost secret is replaced with\n' +
    '#   rotateServiceAccountSecret(id: "…")\n' +
    '# The service then gets tokens with\n' +
    '#   curl -u "$CLIENT_ID:$CLIENT_SECRET" \\\n' +
    '#     -d grant_type=client_credentials \\\n' +
    '#     <this host>/oauth/token\n' +
    '# or uses an API key (also shown once):\n' +
    '#   createApiKey(input: {\n' +
    '#     serviceAccountId: "…", name: "…" }) { key }\n' +
    '# Scopes: users:read users:write sessions:read\n' +
    '#   sessions:revoke tenant:read audit:read\n' +
    '#   tokens:introspect invitations:write\n' +
    'mutation CreateServiceAccount($input: CreateServiceAccountInput!) {\n' +
    '  createServiceAccount(input: $input) {\n    clientId\n    clientSecret\n' +
    '    serviceAccount {\n      id\n      name\n      scopes\n      status\n      tenant {\n        slug\n      }\n    }\n' +
    '  }\n}\n',
  variables: '{\n  "input": { "name": "reporting", "scopes": ["users:read"] }\n}\n',
};

/** The tabs a fresh console opens with; the first one runs as is once signed in. */
export function defaultTabs(schema: GraphQLSchema, systemTenantSlug: string): ConsoleTab[] {
  const tabs: ConsoleTab[] = [
    {
      query: `${HOW_TO}query Me {\n  me {\n    id\n    email\n    displayName\n    role\n    status\n    lastLoginAt\n    tenant {\n      slug\n      name\n    }\n  }\n}\n`,
    },
    {
      query:
        '# Users of your tenant (MODERATORs and ADMINs;\n' +
        '# system ADMINs may pass tenantId).\n' +
        '# Next page: the same with after = endCursor.\n' +
        'query UsersPage($first: Int, $after: String, $filter: UserFilter, $orderBy: UserOrder) {\n' +
        '  users(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {\n' +
        '    totalCount\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n' +
        '    nodes {\n      id\n      email\n      displayName\n      role\n      status\n      lastLoginAt\n      lockedUntil\n    }\n' +
        '  }\n}\n\n' +
        '# ADMINs: suspend or re-activate a user, change a role.\n' +
        'mutation UpdateUser($id: ID!, $input: UpdateUserInput!) {\n' +
        '  updateUser(id: $id, input: $input) {\n    id\n    role\n    status\n  }\n}\n',
      variables:
        '{\n  "first": 20,\n  "filter": { "status": "ACTIVE" },\n  "orderBy": { "field": "CREATED_AT", "direction": "DESC" }\n}\n',
    },
    {
      query:
        `# Tenants: system ADMINs ("${systemTenantSlug}" tenant) only.\n` +
        'query TenantsPage($first: Int, $after: String, $search: String) {\n' +
        '  tenants(first: $first, after: $after, search: $search) {\n' +
        '    totalCount\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n' +
        '    nodes {\n      id\n      slug\n      name\n      status\n      stats {\n        totalUsers\n        activeSessions\n        failedLoginsLast24h\n      }\n    }\n' +
        '  }\n}\n\n' +
        'mutation CreateTenant($input: CreateTenantInput!) {\n' +
        '  createTenant(input: $input) {\n    tenant {\n      id\n      slug\n    }\n    admin {\n      id\n      email\n    }\n  }\n}\n',
      variables:
        '{\n  "first": 20,\n  "input": {\n    "slug": "acme",\n    "name": "Acme",\n    "adminEmail": "admin@acme.example",\n    "adminPassword": "choose a long passphrase"\n  }\n}\n',
    },
    {
      query:
        '# Invite someone by email (ADMINs: any role up to\n' +
        '# their own; MODERATORs: USER and GUEST). The email\n' +
        '# links to <appUrl>/accept-invitation?token=...,\n' +
        '# where the app calls acceptInvitation (README).\n' +
        'mutation InviteUser($invite: InviteUserInput!) {\n' +
        '  inviteUser(input: $invite) {\n    id\n    email\n    role\n    status\n    expiresAt\n  }\n}\n\n' +
        '# ADMINs: the invitations of your tenant.\n' +
        'query Invitations($status: InvitationStatus) {\n' +
        '  invitations(first: 20, status: $status) {\n    totalCount\n' +
        '    nodes {\n      id\n      email\n      role\n      status\n      createdAt\n      expiresAt\n    }\n  }\n}\n\n' +
        'mutation RevokeInvitation($invitationId: ID!) {\n  revokeInvitation(id: $invitationId)\n}\n',
      variables:
        '{\n  "invite": { "email": "new.person@example.com", "role": "USER", "displayName": "New Person" },\n' +
        '  "status": "PENDING",\n  "invitationId": ""\n}\n',
    },
    {
      query:
        '# Password reset. Anyone may ask (the answer is\n' +
        '# always true); the email links to\n' +
        '# <appUrl>/reset-password?token=... : put that\n' +
        '# token and a new password in "reset" below.\n' +
        'mutation RequestPasswordReset($request: RequestPasswordResetInput!) {\n' +
        '  requestPasswordReset(input: $request)\n}\n\n' +
        'mutation ResetPassword($reset: ResetPasswordInput!) {\n  resetPassword(input: $reset)\n}\n\n' +
        '# ADMINs: email a user a reset link, or set the\n' +
        "# password yourself (that ends the user's sessions).\n" +
        'mutation SendPasswordReset($userId: ID!) {\n  sendPasswordReset(userId: $userId)\n}\n\n' +
        'mutation SetUserPassword($userId: ID!, $password: SetUserPasswordInput!) {\n' +
        '  setUserPassword(id: $userId, input: $password)\n}\n',
      variables:
        `{\n  "request": { "tenant": "${systemTenantSlug}", "email": "" },\n` +
        '  "reset": { "token": "", "newPassword": "" },\n' +
        '  "userId": "",\n  "password": { "newPassword": "" }\n}\n',
    },
    {
      query:
        '# Sign in by hand: copy data.login.accessToken\n' +
        '# into the Headers pane as\n' +
        '#   { "Authorization": "Bearer <accessToken>" }\n' +
        '# (the bar above does this for you, and renews it).\n' +
        'mutation SignIn($input: LoginInput!) {\n' +
        '  login(input: $input) {\n    accessToken\n    accessTokenExpiresAt\n    refreshToken\n    user {\n      id\n      email\n      role\n    }\n  }\n}\n',
      variables: `{\n  "input": { "tenant": "${systemTenantSlug}", "email": "", "password": "" }\n}\n`,
    },
  ];
  tabs.push(SERVICE_ACCOUNT_TAB);
  const fields = schema.getSubscriptionType()?.getFields() ?? {};
  const subscriptions = Object.keys(SUBSCRIPTIONS).filter((name) => fields[name]);
  if (subscriptions.length > 0) {
    tabs.push({
      query:
        '# Subscriptions run over the WebSocket at\n' +
        '# ws(s)://<this host>/graphql (graphql-ws), signed\n' +
        '# in with the connectionParams\n' +
        '#   { "authorization": "Bearer <access token>" }\n' +
        subscriptions.map((name) => SUBSCRIPTIONS[name]).join('\n'),
    });
  }
  return tabs;
}

export interface PageConfig {
  title: string;
  /** Relative URL of the asset folder, ending in "/". */
  assets: string;
  files: { css: string; graphiql: string; script: string; favicon: string; qrcode: string };
  workers: Record<'editorWorkerService' | 'json' | 'graphql', string>;
  tenant: string;
  tabs: ConsoleTab[];
}

/** JSON that is safe inside a <script> element. */
const inlineJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

export function renderPage(config: PageConfig): string {
  const asset = (name: string) => `${config.assets}${name}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${config.title}</title>
<link rel="icon" href="${asset(config.files.favicon)}">
<link rel="stylesheet" href="${asset(config.files.css)}">
<style>
html, body { height: 100%; margin: 0; }
body { display: flex; flex-direction: column; font-family: system-ui, sans-serif; font-size: 14px; }
#console-bar { flex: none; display: flex; align-items: center; gap: 12px; padding: 8px 14px;
  border-bottom: 1px solid #d0d4dc; background: #f6f7f9; color: #1b1f24; }
#console-bar form, #console-bar .signed-in { display: flex; align-items: center; gap: 10px; flex-wrap: wrap; }
#console-bar input { font: inherit; padding: 3px 6px; border: 1px solid #b8bec9; border-radius: 4px; }
#console-bar input[name=tenant] { width: 8em; }
#console-bar button { font: inherit; padding: 3px 12px; border-radius: 4px; border: 1px solid #3b5bdb;
  background: #3b5bdb; color: #fff; cursor: pointer; }
#console-bar button.secondary { background: #fff; color: #3b5bdb; }
#console-bar .message { color: #c92a2a; }
#console-bar [hidden] { display: none; }
#totp-setup { flex: none; display: flex; gap: 18px; align-items: flex-start; padding: 10px 14px;
  border-bottom: 1px solid #d0d4dc; background: #fff; }
#totp-setup[hidden] { display: none; }
#totp-setup p { margin: 0 0 8px; }
#totp-setup form { display: flex; gap: 10px; align-items: center; }
#totp-setup pre { margin: 8px 0 0; padding: 6px 10px; background: #f6f7f9; }
#root { flex: 1; min-height: 0; }
#root > .graphiql-container { height: 100%; }
</style>
<script type="application/json" id="console-config">${inlineJson(config)}</script>
<script src="${asset(config.files.qrcode)}"></script>
<script src="${asset(config.files.script)}"></script>
<script src="${asset(config.files.graphiql)}"></script>
</head>
<body>
<header id="console-bar">
  <strong>${config.title}</strong>
  <form id="sign-in">
    <label>Tenant <input name="tenant" autocomplete="organization" required></label>
    <label>Email <input name="email" type="email" autocomplete="username" required></label>
    <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
    <button type="submit">Sign in</button>
  </form>
  <form id="second-factor" hidden>
    <label>Code from your authenticator app, or a recovery code
      <input name="code" autocomplete="one-time-code" required></label>
    <button type="submit">Verify</button>
    <button id="second-factor-cancel" class="secondary" type="button">Cancel</button>
  </form>
  <div class="signed-in" hidden>
    <span id="who"></span>
    <button id="setup-totp" class="secondary" type="button">Set up authenticator</button>
    <button id="sign-out" class="secondary" type="button">Sign out</button>
  </div>
  <span class="message" role="status"></span>
</header>
<section id="totp-setup" hidden>
  <div id="totp-qr"></div>
  <div>
    <p>Scan the code with an authenticator app, or enter this key: <code id="totp-secret"></code></p>
    <form id="totp-confirm">
      <label>Code <input name="code" autocomplete="one-time-code" required></label>
      <button type="submit">Turn on</button>
      <button id="totp-close" class="secondary" type="button">Close</button>
    </form>
    <pre id="recovery-codes" hidden></pre>
  </div>
</section>
<div id="root"></div>
</body>
</html>
`;
}

/** Runs in the browser before GraphiQL's bundle; renders GraphiQL once the page has loaded. */
export const CONSOLE_SCRIPT = `(() => {
  'use strict';
  const config = JSON.parse(document.getElementById('console-config').textContent);
  const SAVED = 'identity-console:session';
  const endpoint = location.pathname;
  const state = { accessToken: null, expiresAt: 0, user: null, tenant: null, timer: undefined, pending: null };

  // GraphiQL's editors run in workers served by this server (no blob: or CDN code).
  self.MonacoEnvironment = {
    globalAPI: false,
    getWorkerUrl: (_moduleId, label) => new URL(config.assets + (config.workers[label] || config.workers.editorWorkerService), location.href).href,
  };

  // GraphiQL keeps its tabs here: this browser tab's sessionStorage, never localStorage.
  const graphiqlStorage = {
    getItem: (key) => sessionStorage.getItem(key),
    setItem: (key, value) => sessionStorage.setItem(key, value),
    removeItem: (key) => sessionStorage.removeItem(key),
    get length() { return Object.keys(sessionStorage).filter((key) => key.startsWith('graphiql:')).length; },
    clear() { for (const key of Object.keys(sessionStorage)) if (key.startsWith('graphiql:')) sessionStorage.removeItem(key); },
  };

  async function call(query, variables, token) {
    const headers = { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' };
    if (token) headers.authorization = 'Bearer ' + token;
    const response = await fetch(endpoint, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    const body = await response.json().catch(() => ({}));
    if (body.errors && body.errors.length) {
      const error = new Error(body.errors[0].message);
      error.extensions = body.errors[0].extensions || {};
      throw error;
    }
    if (!response.ok || !body.data) throw new Error('The server answered HTTP ' + response.status + '.');
    return body.data;
  }

  const PAYLOAD = '{ accessToken accessTokenExpiresAt refreshToken user { email role } }';

  function saved() {
    try { return JSON.parse(sessionStorage.getItem(SAVED) || 'null'); } catch { return null; }
  }

  function adopt(payload, tenant) {
    state.accessToken = payload.accessToken;
    state.expiresAt = Date.parse(payload.accessTokenExpiresAt);
    state.user = payload.user;
    state.tenant = tenant;
    sessionStorage.setItem(SAVED, JSON.stringify({ refreshToken: payload.refreshToken, tenant }));
    const lifetime = state.expiresAt - Date.now();
    clearTimeout(state.timer);
    // A minute before expiry (a fifth of the lifetime for short-lived tokens).
    state.timer = setTimeout(renew, Math.max(5000, lifetime - Math.min(60000, lifetime / 5)));
    show('');
  }

  function forget(message) {
    clearTimeout(state.timer);
    state.accessToken = null;
    state.user = null;
    sessionStorage.removeItem(SAVED);
    show(message || '');
  }

  async function renew() {
    const session = saved();
    if (!session) return forget();
    try {
      const data = await call('mutation ConsoleRefresh($input: RefreshInput!) { refresh(input: $input) ' + PAYLOAD + ' }', { input: { refreshToken: session.refreshToken } });
      adopt(data.refresh, session.tenant);
    } catch (error) {
      forget('Signed out: ' + error.message);
    }
  }

  let bar;
  function show(message) {
    const signedIn = Boolean(state.accessToken);
    bar.form.hidden = signedIn || Boolean(state.pending);
    bar.secondFactor.hidden = signedIn || !state.pending;
    bar.signedIn.hidden = !signedIn;
    if (!signedIn) bar.setup.hidden = true;
    bar.message.textContent = message;
    if (signedIn) {
      bar.who.textContent = 'Signed in as ' + state.user.email + ' (' + state.user.role + ', tenant ' + state.tenant + '). ' +
        'The access token is renewed automatically (this one expires at ' + new Date(state.expiresAt).toLocaleTimeString() + ').';
    }
  }

  function start() {
    const header = document.getElementById('console-bar');
    bar = {
      form: header.querySelector('#sign-in'),
      secondFactor: header.querySelector('#second-factor'),
      setup: document.getElementById('totp-setup'),
      signedIn: header.querySelector('.signed-in'),
      who: header.querySelector('#who'),
      message: header.querySelector('.message'),
    };
    bar.form.elements.tenant.value = (saved() && saved().tenant) || config.tenant;
    bar.form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const form = bar.form.elements;
      const input = { tenant: form.tenant.value.trim(), email: form.email.value.trim(), password: form.password.value };
      show('Signing in…');
      try {
        const data = await call('mutation ConsoleSignIn($input: LoginInput!) { login(input: $input) ' + PAYLOAD + ' }', { input });
        form.password.value = '';
        adopt(data.login, input.tenant);
      } catch (error) {
        if (error.extensions && error.extensions.code === 'MFA_REQUIRED') {
          form.password.value = '';
          // The password was right: the second step needs a code (passkeys need an app of their own).
          state.pending = { mfaToken: error.extensions.mfaToken, tenant: input.tenant };
          const methods = error.extensions.methods || [];
          show(methods.includes('TOTP') || methods.includes('RECOVERY_CODE')
            ? 'Enter the code from your authenticator app.'
            : 'This account signs in with a passkey, which this console does not offer.');
          bar.secondFactor.elements.code.focus();
          return;
        }
        show(error.message);
      }
    });
    bar.secondFactor.addEventListener('submit', async (event) => {
      event.preventDefault();
      const pending = state.pending;
      if (!pending) return show('');
      const code = bar.secondFactor.elements.code.value.trim();
      const method = /^[0-9]{6}$/.test(code.replace(/\\s+/g, '')) ? 'TOTP' : 'RECOVERY_CODE';
      try {
        const data = await call('mutation ConsoleSecondFactor($input: CompleteMfaLoginInput!) { completeMfaLogin(input: $input) ' + PAYLOAD + ' }',
          { input: { mfaToken: pending.mfaToken, method, code } });
        bar.secondFactor.elements.code.value = '';
        state.pending = null;
        adopt(data.completeMfaLogin, pending.tenant);
      } catch (error) {
        bar.secondFactor.elements.code.value = '';
        show(error.message);
      }
    });
    header.querySelector('#second-factor-cancel').addEventListener('click', () => {
      state.pending = null;
      show('');
    });
    header.querySelector('#setup-totp').addEventListener('click', async () => {
      try {
        const data = await call('mutation ConsoleStartTotp { startTotpEnrollment { secret otpauthUri } }', {}, state.accessToken);
        // Drawn here by the bundled QR library: the secret never leaves this page.
        const qr = qrcode(0, 'M');
        qr.addData(data.startTotpEnrollment.otpauthUri);
        qr.make();
        document.getElementById('totp-qr').innerHTML = qr.createSvgTag({ cellSize: 4, margin: 2 });
        document.getElementById('totp-secret').textContent = data.startTotpEnrollment.secret;
        document.getElementById('recovery-codes').hidden = true;
        document.getElementById('totp-confirm').hidden = false;
        bar.setup.hidden = false;
        show('');
      } catch (error) {
        show(error.message);
      }
    });
    document.getElementById('totp-confirm').addEventListener('submit', async (event) => {
      event.preventDefault();
      const input = event.target.elements.code;
      try {
        const data = await call('mutation ConsoleConfirmTotp($input: ConfirmTotpInput!) { confirmTotpEnrollment(input: $input) { codes } }',
          { input: { code: input.value.trim() } }, state.accessToken);
        input.value = '';
        document.getElementById('totp-confirm').hidden = true;
        document.getElementById('totp-qr').textContent = '';
        document.getElementById('totp-secret').textContent = '(set up)';
        const codes = document.getElementById('recovery-codes');
        codes.textContent = data.confirmTotpEnrollment.codes.join('\\n');
        codes.hidden = false;
        show('Authenticator on. Keep these recovery codes somewhere safe: each works once, and they are not shown again.');
      } catch (error) {
        show(error.message);
      }
    });
    document.getElementById('totp-close').addEventListener('click', () => {
      bar.setup.hidden = true;
      document.getElementById('recovery-codes').textContent = '';
    });
    header.querySelector('#sign-out').addEventListener('click', async () => {
      const token = state.accessToken;
      bar.setup.hidden = true;
      forget('Signed out.');
      if (token) await call('mutation ConsoleSignOut { logout }', {}, token).catch(() => {});
    });
    // Timers sleep in background tabs: renew on return when the token is (nearly) spent.
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && state.accessToken && state.expiresAt - Date.now() < 60000) renew();
    });
    show('');
    if (saved()) renew();

    YogaGraphiQL.renderYogaGraphiQL(document.getElementById('root'), {
      // The bar above carries the title.
      title: '',
      logo: '',
      endpoint,
      subscriptionsProtocol: 'WS',
      // Read for every request and every new WebSocket connection, so a renewed token is used at once.
      additionalHeaders: () => (state.accessToken ? { Authorization: 'Bearer ' + state.accessToken } : {}),
      connectionParams: () => (state.accessToken ? { authorization: 'Bearer ' + state.accessToken } : {}),
      defaultTabs: config.tabs,
      shouldPersistHeaders: false,
      storage: graphiqlStorage,
    });
  }

  document.addEventListener('DOMContentLoaded', start);
})();
`;
