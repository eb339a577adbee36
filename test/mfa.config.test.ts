import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

/** WEBAUTHN_RP_ID and WEBAUTHN_ORIGINS: defaults from PUBLIC_URL, and one clear line when wrong. */

describe('passkey configuration', () => {
  it("defaults to the host and origin of PUBLIC_URL, and each tenant's appUrl origin", () => {
    const config = loadConfig({ PUBLIC_URL: 'https://id.example.com/base' });
    expect(config.webauthn).toEqual({
      rpId: 'id.example.com',
      origins: ['https://id.example.com'],
      tenantAppOrigins: true,
    });
  });

  it('takes a domain and a list of origins', () => {
    const config = loadConfig({
      WEBAUTHN_RP_ID: 'example.com',
      WEBAUTHN_ORIGINS: 'https://app.example.com, https://admin.example.com:8443',
    });
    expect(config.webauthn).toEqual({
      rpId: 'example.com',
      origins: ['https://app.example.com', 'https://admin.example.com:8443'],
      tenantAppOrigins: false,
    });
  });

  it('refuses an origin with a path, or a relying-party id with a scheme, naming the variable', () => {
    for (const [name, value] of [
      ['WEBAUTHN_ORIGINS', 'https://app.example.com/login'],
      ['WEBAUTHN_ORIGINS', 'ftp://files.example.com'],
      ['WEBAUTHN_RP_ID', 'https://example.com'],
    ] as const) {
      expect(() => loadConfig({ [name]: value }), value).toThrow(ConfigError);
      expect(() => loadConfig({ [name]: value }), value).toThrow(
        new RegExp(`^Invalid configuration: ${name}`),
      );
    }
  });
});
