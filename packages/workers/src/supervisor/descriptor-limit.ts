/**
 * The open-file limit against what the config may hold open (see descriptorBudget in core): read at
 * start-up and by `pillion validate`, which warn when the limit is lower. Linux only: elsewhere the
 * limit is unknown and nothing is said.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { descriptorBudget, type Config, type DescriptorBudget } from '@pillion/core';

/** The soft RLIMIT_NOFILE from /proc/self/limits; null when unknown or unlimited. */
export function openFileLimit(text?: string): number | null {
  let limits = text;
  if (limits === undefined) {
    try {
      limits = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return null;
    }
  }
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(limits);
  return m && m[1] !== 'unlimited' ? Number(m[1]) : null;
}

export interface DescriptorWarning {
  limit: number;
  budget: DescriptorBudget;
  message: string;
}

/** A warning when `limit` is below the config's descriptor budget; null when it is enough or unknown. */
export function descriptorWarning(config: Config, limit: number | null = openFileLimit()): DescriptorWarning | null {
  if (limit === null) return null;
  const workers = config.workers === 'auto' ? availableParallelism() : config.workers;
  const budget = descriptorBudget(config, workers);
  if (limit >= budget.total) return null;
  const largest = budget.parts
    .slice(0, 3)
    .map((p) => `${p.what} ${p.descriptors}`)
    .join(', ');
  return {
    limit,
    budget,
    message: `the open-file limit (ulimit -n) is ${limit}, below the ${budget.total} file descriptors this config may hold at its limits (largest: ${largest}); out of descriptors, listeners stop accepting. Raise the limit (ulimit -n, LimitNOFILE= under systemd) or lower those limits`,
  };
}
