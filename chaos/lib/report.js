// docs/reliability.md from the rows of a run.
import { FINDINGS } from './findings.js';
import { formatRss } from './format.js';

/**
 * @param {{ machine: import('../../bench/lib/machine.js').Machine, date: string, command: string,
 *           uptimeBefore: string, uptimeAfter: string, rows: import('./row.js').Row[], quick: boolean }} run
 */
export function renderMarkdown(run) {
  const lines = [
    '# Reliability',
    '',
    `Written by \`${run.command}\` on ${run.date} (${run.quick ? 'quick run' : 'full run'}). Do not edit: run it again.`,
    '',
    `Machine: ${run.machine.cpu}, ${run.machine.cores} cores, ${run.machine.memoryGiB} GiB, ${run.machine.os ?? run.machine.kernel}; Node ${run.machine.node}.`,
    `Load on the machine (\`uptime\`) before: ${run.uptimeBefore}; after: ${run.uptimeAfter}. The load generator, the upstreams and Pillion share these cores (and other processes may have run too), so latencies are the machine's as much as Pillion's.`,
    '',
    'Each scenario starts its own upstreams (Node processes, so they can be SIGKILLed) and its own Pillion from `packages/workers/bin/pillion.js`, on loopback only; `chaos/scenarios/` has one file per scenario. Failures are counted by reason: `status-NNN` (an answer other than the one expected), `reset` (connection reset or closed before any answer), `aborted` (the answer started, then broke), `refused`, `timeout`, `corrupt` (a 2xx whose body was not the one sent). p99 is over the requests that succeeded while the fault was on. RSS is `VmRSS` of the Pillion process.',
    '',
    '| scenario | load | fault | sent | succeeded | failed by reason | p99 during the fault | recovery | RSS before → after |',
    '| --- | --- | --- | ---: | ---: | --- | ---: | --- | --- |',
  ];
  for (const r of run.rows) {
    const failed = Object.entries(r.failed)
      .map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`)
      .join(', ');
    lines.push(
      `| ${r.scenario} | ${r.load} | ${r.fault} | ${r.sent.toLocaleString('en-US')} | ${r.succeeded.toLocaleString('en-US')} | ${failed || '0'} | ${r.p99FaultMs === null ? '—' : `${r.p99FaultMs.toFixed(1)} ms`} | ${r.recovery} | ${formatRss(r.rssBeforeKiB)} → ${formatRss(r.rssAfterKiB)} |`,
    );
  }
  lines.push('', '## Goals', '', '| scenario | goal | met | measured |', '| --- | --- | --- | --- |');
  for (const r of run.rows) for (const g of r.goals) lines.push(`| ${r.scenario} | ${g.goal} | ${g.met ? 'yes' : '**no**'} | ${g.detail} |`);
  lines.push('', '## What the scenarios found', '', '| scenario | found | fixed (or what remains) |', '| --- | --- | --- |');
  for (const f of FINDINGS) lines.push(`| ${f.scenario} | ${f.found} | ${f.fixed} |`);
  lines.push('', '## Notes', '');
  for (const r of run.rows) for (const n of r.notes) lines.push(`- ${r.scenario}: ${n}`);
  lines.push('');
  return lines.join('\n');
}
