/**
 * Reading the bodies of the admin API's endpoint calls: `PUT /clusters/NAME/endpoints` (a JSON array
 * of `{ address, port, weight?, zone? }`, checked with the config file's own endpoint schema) and
 * `POST /clusters/NAME/endpoints/ADDRESS:PORT/weight` (`{ weight }`). Problems carry the path of the
 * field inside the body, like config problems do (`[1].port: must be <= 65535`).
 */
import { endpointSchema, toConfigProblems, type ConfigProblem, type EndpointConfig } from '@pillion/core';

export type Parsed<T> = { ok: true; value: T } | { ok: false; problems: ConfigProblem[] };

export function parseEndpointList(body: unknown): Parsed<EndpointConfig[]> {
  if (!Array.isArray(body)) return { ok: false, problems: [{ path: '', message: 'must be a JSON array of { address, port, weight, zone }' }] };
  const problems: ConfigProblem[] = [];
  const value: EndpointConfig[] = [];
  const seen = new Map<string, number>();
  body.forEach((item, i) => {
    const r = endpointSchema().safeParse(item);
    if (!r.success) {
      problems.push(...toConfigProblems(r.error.issues, [i]));
      return;
    }
    const key = `${r.data.address}:${r.data.port}`;
    const first = seen.get(key);
    if (first !== undefined) problems.push({ path: `[${i}]`, message: `duplicate endpoint ${key} (also [${first}])` });
    else seen.set(key, i);
    value.push(r.data);
  });
  return problems.length ? { ok: false, problems } : { ok: true, value };
}

export function parseWeight(body: unknown): Parsed<number> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { ok: false, problems: [{ path: '', message: 'must be a JSON object { "weight": N }' }] };
  const problems: ConfigProblem[] = [];
  for (const key of Object.keys(body)) if (key !== 'weight') problems.push({ path: key, message: 'unknown field' });
  const raw = (body as { weight?: unknown }).weight;
  if (raw === undefined) problems.push({ path: 'weight', message: 'is required' });
  else {
    const r = endpointSchema().shape.weight.safeParse(raw);
    if (!r.success) problems.push(...toConfigProblems(r.error.issues, ['weight']));
    else if (!problems.length) return { ok: true, value: r.data };
  }
  return { ok: false, problems };
}

/** `ADDRESS:PORT` (an IPv6 address in brackets or bare: the port follows the last colon). */
export function splitEndpointKey(text: string): { address: string; port: number } | undefined {
  const colon = text.lastIndexOf(':');
  if (colon <= 0) return undefined;
  let address = text.slice(0, colon);
  if (address.startsWith('[') && address.endsWith(']')) address = address.slice(1, -1);
  const port = Number(text.slice(colon + 1));
  if (!address || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { address, port };
}
