/** One problem found in a configuration, with the path of the field it concerns. */
export interface ConfigProblem {
  /** Field path in the style `clusters[1].lb.policy`; empty for the whole document. */
  path: string;
  message: string;
}

/** Thrown when a configuration cannot be used; carries every problem found, not just the first. */
export class ConfigError extends Error {
  readonly code = 'PILLION_CONFIG_INVALID';
  readonly problems: ConfigProblem[];

  constructor(problems: ConfigProblem[], source?: string) {
    const where = source ? ` in ${source}` : '';
    super(`${problems.length} problem${problems.length === 1 ? '' : 's'}${where}:\n` + problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function formatProblem(p: ConfigProblem): string {
  return p.path ? `  ${p.path}: ${p.message}` : `  ${p.message}`;
}

/** `['clusters', 1, 'lb', 'policy']` → `clusters[1].lb.policy` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}
