import { Direction, HOST_MODULE, HeaderMap, HookResult, LogLevel, MetricKind, Property, hookExports, hostFunctions } from './abi.js';
import type { FunctionSignature } from './abi.js';

const signature = (name: string, f: FunctionSignature): string =>
  `\`${name}(${f.params.map((t, i) => `${f.names[i]}: ${t}`).join(', ')})${f.results.length ? ` → ${f.results.join(', ')}` : ''}\``;

const table = (rows: Record<string, FunctionSignature>): string[] => [
  '| function | meaning |',
  '| --- | --- |',
  ...Object.entries(rows).map(([name, f]) => `| ${signature(name, f)} | ${f.doc.replace(/\|/g, '\\|')} |`),
];

const values = (name: string, table: Record<string, number>): string =>
  `- ${name}: ${Object.entries(table).map(([k, v]) => `${k} = ${v >= 16 ? `0x${v.toString(16)}` : v}`).join(', ')}`;

/** The ABI as the tables docs/sdk.md prints (kept in step by a test, printed by `pillion-sdk abi`). */
export function abiMarkdown(): string {
  return [
    `Host functions (import module \`${HOST_MODULE}\`):`,
    '',
    ...table(hostFunctions),
    '',
    'Exports the host calls (each only if the module exports it):',
    '',
    ...table(hookExports),
    '',
    'Argument and result values:',
    '',
    values('`map` (HeaderMap)', HeaderMap),
    values('`property` (Property)', Property),
    values('`direction` (Direction)', Direction),
    values('`level` (LogLevel)', LogLevel),
    values('`kind` (MetricKind)', MetricKind),
    values('hook result (HookResult)', HookResult),
  ].join('\n');
}
