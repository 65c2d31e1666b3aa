/**
 * Fields the schema accepts as part of the operator contract but whose behaviour is not built yet.
 * They are refused with a clear message instead of being silently ignored; the change that builds a
 * feature deletes its line here.
 */
import type { Config } from './schema.js';
import type { ConfigProblem } from './errors.js';

const NOT_YET = 'is not supported yet';

export function unsupportedFields(c: Config): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const no = (path: string, what = NOT_YET) => out.push({ path, message: what });
  c.listeners.forEach((l, i) => {
    const at = `listeners[${i}]`;
    if (l.protocol !== 'http') no(`${at}.protocol`, `"${l.protocol}" listeners are not supported yet`);
    if (l.protocol === 'http') {
      l.filters.forEach((_, j) => no(`${at}.filters[${j}]`, 'filters are not supported yet'));
      l.routes.forEach((r, j) => {
        if (r.retry) no(`${at}.routes[${j}].retry`);
        if (r.weighted_clusters) no(`${at}.routes[${j}].weighted_clusters`);
      });
    }
  });
  c.clusters.forEach((cl, i) => {
    const at = `clusters[${i}]`;
    if (cl.lb.policy !== 'round-robin') no(`${at}.lb.policy`, `"${cl.lb.policy}" ${NOT_YET} (round-robin is)`);
    if (cl.lb.local_zone !== undefined) no(`${at}.lb.local_zone`);
    if (cl.health_check) no(`${at}.health_check`);
    if (cl.outlier_detection) no(`${at}.outlier_detection`);
    if (cl.slow_start) no(`${at}.slow_start`);
    if (cl.pool.warmup) no(`${at}.pool.warmup`);
  });
  return out;
}
