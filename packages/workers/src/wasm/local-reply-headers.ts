import { HeaderList, isFieldValue, isToken } from '@pillion/core';
import { HostCallError } from './filter-error.js';

/** Header fields that frame the message: the proxy owns them, filters may not touch them. */
export function isFramingHeader(name: string): boolean {
  return name === 'content-length' || name === 'transfer-encoding';
}

export function checkHeaderName(name: string): string {
  if (!isToken(name)) throw new HostCallError(`invalid header name ${JSON.stringify(name)}`);
  if (isFramingHeader(name)) throw new HostCallError(`filters may not change ${name}: the proxy frames messages`);
  return name;
}

export function checkHeaderValue(name: string, value: string): string {
  if (!isFieldValue(value) || !isLatin1(value)) {
    throw new HostCallError(`invalid value for header ${name}: CR, LF, NUL and characters above U+00FF are not allowed`);
  }
  return value;
}

function isLatin1(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return false;
  return true;
}

/** Parses a local reply's headers as the ABI passes them: "name\nvalue\n" repeated. */
export function parseReplyHeaders(flat: string): HeaderList | undefined {
  if (flat.length === 0) return undefined;
  const parts = flat.split('\n');
  if (parts[parts.length - 1] === '') parts.pop();
  if (parts.length % 2 !== 0) throw new HostCallError('local reply headers must come as name/value pairs');
  const raw: string[] = [];
  for (let i = 0; i < parts.length; i += 2) {
    const name = checkHeaderName(parts[i]!.toLowerCase());
    raw.push(name, checkHeaderValue(name, parts[i + 1]!));
  }
  return new HeaderList(raw);
}
