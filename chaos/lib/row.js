// One row of docs/reliability.md, and the checks of the goals against it.

/**
 * @typedef {object} Goal
 * @property {string} goal
 * @property {boolean} met
 * @property {string} detail
 */

/**
 * @typedef {object} Row
 * @property {string} scenario
 * @property {string} load
 * @property {string} fault
 * @property {number} sent
 * @property {number} succeeded
 * @property {Record<string, number>} failed       by reason
 * @property {number | null} p99FaultMs
 * @property {string} recovery
 * @property {number | null} rssBeforeKiB
 * @property {number | null} rssAfterKiB
 * @property {Goal[]} goals
 * @property {string[]} notes
 */

/**
 * @param {Partial<Row> & { scenario: string }} r
 * @returns {Row}
 */
export function row(r) {
  return {
    load: '',
    fault: '',
    sent: 0,
    succeeded: 0,
    failed: {},
    p99FaultMs: null,
    recovery: '',
    rssBeforeKiB: null,
    rssAfterKiB: null,
    goals: [],
    notes: [],
    ...r,
  };
}

/**
 * @param {string} goal
 * @param {boolean} met
 * @param {string} detail
 * @returns {Goal}
 */
export const goal = (goal, met, detail) => ({ goal, met, detail });

/** @param {number} ms */
export const secs = (ms) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
