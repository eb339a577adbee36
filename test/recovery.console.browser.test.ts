import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, openConsoleTab, type TestBrowser } from './support/browser.js';
import { createTenant, loginUser, registerUser, strongPassword } from './support/fixtures.js';
import { SYSTEM_ADMIN, useTestServer } from './support/server.js';
import { TestSmtpServer, tokenOf } from './support/smtp.js';

/**
 * The console's default tabs for invitations and password reset, in headless Chromium: an ADMIN
 * signed in through the bar runs each operation as the tab holds it (only the variables edited),
 * and the emails arrive at a real SMTP server in this process.
 */

let smtp: TestSmtpServer;
let browser: TestBrowser;

beforeAll(async () => {
  smtp = await new TestSmtpServer().start();
});
afterAll(async () => {
  await smtp?.stop();
});
const server = useTestServer(() => ({ SMTP_URL: smtp.url }));
beforeAll(async () => {
  browser = await launchChromium();
}, 120_000);
afterAll(async () => {
  await browser?.close();
});

async function openSignedIn(): Promise<Page> {
  const page = await browser.context.newPage();
  await page.setViewportSize({ width: 1400, height: 900 });
  await page.goto(`${server.url}/graphql`);
  await page.fill('#sign-in input[name=email]', SYSTEM_ADMIN.email);
  await page.fill('#sign-in input[name=password]', SYSTEM_ADMIN.password);
  await page.click('#sign-in button[type=submit]');
  await page.waitForSelector(`#who:has-text("${SYSTEM_ADMIN.email}")`);
  return page;
}

/** Replaces the variables with `variables`, as a person would type them. */
async function setVariables(page: Page, variables: unknown) {
  const editor = page.locator('.graphiql-editor-tool .view-lines').first();
  await editor.click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Delete');
  // One insertion (as a paste would be), so the editor adds no closing brackets of its own.
  await page.keyboard.insertText(JSON.stringify(variables));
}

/** Runs the tab's operation `name` (the ▶ button offers each of the tab's operations) and returns the result. */
async function run(page: Page, name: string): Promise<unknown> {
  const answered = page.waitForResponse(
    (response) =>
      response.url().endsWith('/graphql') &&
      JSON.parse(response.request().postData() ?? '{}').operationName === name,
  );
  // GraphiQL parses a tab's document a moment after the tab opens; until then ▶ offers no menu
  // of its operations, so it is pressed again until the menu names this one.
  await expect
    .poll(
      async () => {
        await page.click('.graphiql-execute-button');
        try {
          await page.getByRole('menuitem', { name, exact: true }).click({ timeout: 2_000 });
          return true;
        } catch {
          await page.keyboard.press('Escape');
          return false;
        }
      },
      { timeout: 30_000, interval: 500 },
    )
    .toBe(true);
  const result = await (await answered).json();
  // And the result pane shows it.
  await expect
    .poll(() => page.locator('.graphiql-response').textContent(), { timeout: 10_000 })
    .toContain(Object.keys(result.data ?? result.errors?.[0] ?? {})[0] ?? '');
  return result;
}

describe("the console's invitation and password-reset tabs", () => {
  it('are there, and each of their operations runs', async () => {
    const page = await openSignedIn();
    const tabs = await page.locator('.graphiql-tab').allTextContents();
    expect(tabs.join(' ')).toContain('InviteUser');
    expect(tabs.join(' ')).toContain('RequestPasswordReset');

    // Invitations: as the tab holds it, it invites new.person@example.com as a USER.
    await openConsoleTab(page, 'InviteUser');
    const invited = (await run(page, 'InviteUser')) as { data: { inviteUser: { id: string } } };
    expect(invited.data.inviteUser).toMatchObject({
      email: 'new.person@example.com',
      role: 'USER',
      status: 'PENDING',
    });
    const [invitation] = await smtp.waitFor('new.person@example.com');
    expect(invitation?.link).toContain('/accept-invitation?token=');
    const listed = (await run(page, 'Invitations')) as { data: { invitations: { nodes: { id: string }[] } } };
    expect(listed.data.invitations.nodes.map((n) => n.id)).toContain(invited.data.inviteUser.id);
    await setVariables(page, { invitationId: invited.data.inviteUser.id });
    expect(await run(page, 'RevokeInvitation')).toEqual({ data: { revokeInvitation: true } });

    // Password reset: ask for the link, then set the password with the token it carries.
    const tenant = await createTenant(server);
    const user = await registerUser(server, tenant.slug);
    await openConsoleTab(page, 'RequestPasswordReset');
    await setVariables(page, { request: { tenant: tenant.slug, email: user.email } });
    expect(await run(page, 'RequestPasswordReset')).toEqual({ data: { requestPasswordReset: true } });
    const [mail] = await smtp.waitFor(user.email);
    const newPassword = strongPassword();
    await setVariables(page, { reset: { token: tokenOf(mail?.link), newPassword } });
    expect(await run(page, 'ResetPassword')).toEqual({ data: { resetPassword: true } });
    await loginUser(server, { ...user, password: newPassword });

    // The ADMIN operations of the same tab.
    await setVariables(page, { userId: user.userId });
    expect(await run(page, 'SendPasswordReset')).toEqual({ data: { sendPasswordReset: true } });
    await smtp.waitFor(user.email, 2);
    const adminSet = strongPassword();
    await setVariables(page, { userId: user.userId, password: { newPassword: adminSet } });
    expect(await run(page, 'SetUserPassword')).toEqual({ data: { setUserPassword: true } });
    await loginUser(server, { ...user, password: adminSet });
    await page.close();
  }, 120_000);
});
