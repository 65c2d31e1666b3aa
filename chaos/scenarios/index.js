// The scenarios, in the order. `limitS`/`quickLimitS` bound each one's wall time.
import upstreamSigkill from './upstream-sigkill.js';
import fdExhaustion from './fd-exhaustion.js';
import hangAndSlow from './hang-and-slow.js';
import manyConnections from './many-connections.js';
import reload from './reload.js';
import sigterm from './sigterm.js';
import soak from './soak.js';
import upstreamMisbehaviour from './upstream-misbehaviour.js';
import workerCrash from './worker-crash.js';

/**
 * @typedef {object} Scenario
 * @property {string} name
 * @property {number} limitS
 * @property {number} quickLimitS
 * @property {(ctx: { quick: boolean, log: (line: string) => void }) => Promise<import('../lib/row.js').Row[]>} run
 */

/** @type {Scenario[]} */
export const SCENARIOS = [
  { ...upstreamSigkill, limitS: 120, quickLimitS: 60 },
  { ...hangAndSlow, limitS: 90, quickLimitS: 45 },
  { ...workerCrash, limitS: 60, quickLimitS: 40 },
  { ...reload, limitS: 60, quickLimitS: 40 },
  { ...sigterm, limitS: 60, quickLimitS: 40 },
  { ...manyConnections, limitS: 150, quickLimitS: 60 },
  { ...fdExhaustion, limitS: 120, quickLimitS: 60 },
  { ...soak, limitS: 700, quickLimitS: 100 },
  { ...upstreamMisbehaviour, limitS: 60, quickLimitS: 40 },
];
