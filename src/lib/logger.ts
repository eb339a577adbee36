import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * Structured JSON logs. Anything that could carry a credential is redacted by path, wherever
 * it appears in a log object, so a careless `log.info({ input })` cannot leak a password.
 */
export const REDACTED_PATHS = [
  'password',
  'newPassword',
  'currentPassword',
  'adminPassword',
  'refreshToken',
  'accessToken',
  'token',
  'authorization',
  'passwordHash',
  'privateKey',
  '*.password',
  '*.newPassword',
  '*.currentPassword',
  '*.adminPassword',
  '*.refreshToken',
  '*.accessToken',
  '*.token',
  '*.authorization',
  '*.passwordHash',
  '*.privateKey',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'variables.input.password',
  'variables.input.newPassword',
  'variables.input.currentPassword',
  'variables.input.adminPassword',
  'variables.input.refreshToken',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'identity-api' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
