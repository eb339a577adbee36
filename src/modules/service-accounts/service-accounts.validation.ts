import { BadUserInputError, type FieldError } from '../../kernel/errors.js';
import { hasControlCharacters } from '../../kernel/text.js';
import { isScope, SCOPES } from './scopes.js';

/** Input checks of service accounts and API keys: every field checked, all mistakes told at once. */

const NAME_MAX = 100;
const DESCRIPTION_MAX = 500;
export const MAX_GRACE_SECONDS = 86_400;

function checkName(field: string, value: unknown, errors: FieldError[]): string | undefined {
  const name = typeof value === 'string' ? value.trim() : '';
  if (name.length === 0 || name.length > NAME_MAX || hasControlCharacters(name)) {
    errors.push({ field, message: `Name must be 1 to ${NAME_MAX} characters, without control characters.` });
    return undefined;
  }
  return name;
}

function checkDescription(value: unknown, errors: FieldError[]): string | null | undefined {
  if (value === null || value === undefined) return null;
  const text = String(value).trim();
  if (text.length > DESCRIPTION_MAX || hasControlCharacters(text, { allowLineBreaks: true })) {
    errors.push({
      field: 'description',
      message: `Description must be at most ${DESCRIPTION_MAX} characters.`,
    });
    return undefined;
  }
  return text.length === 0 ? null : text;
}

function checkScopes(value: unknown, errors: FieldError[]): string[] | undefined {
  const list = Array.isArray(value) ? value : [];
  const unknown = list.filter((scope) => !isScope(scope));
  if (unknown.length > 0 || list.length > SCOPES.length * 2) {
    errors.push({
      field: 'scopes',
      message: `Unknown scope${unknown.length === 1 ? '' : 's'}: ${unknown
        .slice(0, 5)
        .map((s) => JSON.stringify(String(s).slice(0, 40)))
        .join(', ')}. Known: ${SCOPES.join(', ')}.`,
    });
    return undefined;
  }
  // Stored in the contract's order, once each.
  return SCOPES.filter((scope) => list.includes(scope));
}

export interface ServiceAccountFields {
  name: string;
  description: string | null;
  scopes: string[];
}

export function validateCreate(input: {
  name: string;
  description?: string | null;
  scopes: string[];
}): ServiceAccountFields {
  const errors: FieldError[] = [];
  const name = checkName('name', input.name, errors);
  const description = checkDescription(input.description, errors);
  const scopes = checkScopes(input.scopes, errors);
  if (errors.length > 0 || name === undefined || description === undefined || scopes === undefined) {
    throw new BadUserInputError(errors);
  }
  return { name, description, scopes };
}

export type ServiceAccountChanges = Partial<ServiceAccountFields & { status: 'ACTIVE' | 'DISABLED' }>;

export function validateUpdate(input: {
  name?: string | null;
  description?: string | null;
  scopes?: string[] | null;
  status?: 'ACTIVE' | 'DISABLED' | null;
}): ServiceAccountChanges {
  const errors: FieldError[] = [];
  const changes: ServiceAccountChanges = {};
  if (input.name === null) errors.push({ field: 'name', message: 'Name cannot be null; omit it instead.' });
  else if (input.name !== undefined) {
    const name = checkName('name', input.name, errors);
    if (name !== undefined) changes.name = name;
  }
  if (input.description !== undefined) {
    const description = checkDescription(input.description, errors);
    if (description !== undefined) changes.description = description;
  }
  if (input.scopes === null)
    errors.push({ field: 'scopes', message: 'Scopes cannot be null; omit them instead.' });
  else if (input.scopes !== undefined) {
    const scopes = checkScopes(input.scopes, errors);
    if (scopes !== undefined) changes.scopes = scopes;
  }
  if (input.status === null)
    errors.push({ field: 'status', message: 'Status cannot be null; omit it instead.' });
  else if (input.status !== undefined) changes.status = input.status;
  if (errors.length > 0) throw new BadUserInputError(errors);
  return changes;
}

export function validateGraceSeconds(value: number | null | undefined): number {
  const grace = value ?? 0;
  if (!Number.isInteger(grace) || grace < 0 || grace > MAX_GRACE_SECONDS) {
    throw BadUserInputError.field(
      'graceSeconds',
      `graceSeconds must be a whole number from 0 to ${MAX_GRACE_SECONDS}.`,
    );
  }
  return grace;
}

export function validateApiKey(
  input: { name: string; expiresAt?: Date | null },
  now: Date,
): { name: string; expiresAt: Date | null } {
  const errors: FieldError[] = [];
  const name = checkName('name', input.name, errors);
  const expiresAt = input.expiresAt ?? null;
  if (expiresAt !== null && (Number.isNaN(expiresAt.getTime()) || expiresAt.getTime() <= now.getTime())) {
    errors.push({ field: 'expiresAt', message: 'expiresAt must be in the future.' });
  }
  if (errors.length > 0 || name === undefined) throw new BadUserInputError(errors);
  return { name, expiresAt };
}
