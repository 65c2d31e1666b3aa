/**
 * The thread ConfigChecker starts: the only place, while the proxy runs, that loads the config
 * schema (zod) and the YAML parser.
 */
import { parentPort } from 'node:worker_threads';
import { validateConfigText } from '@pillion/core';
import type { CheckReply, CheckRequest } from './config-checker.js';
import { parseEndpointList, parseWeight } from './endpoint-api.js';

function check(req: CheckRequest): unknown {
  switch (req.type) {
    case 'config':
      return validateConfigText(req.text);
    case 'endpoints':
      return parseEndpointList(req.body);
    case 'weight':
      return parseWeight(req.body);
  }
}

parentPort!.on('message', ({ id, req }: { id: number; req: CheckRequest }) => {
  let reply: CheckReply;
  try {
    reply = { id, result: check(req) };
  } catch (e) {
    reply = { id, error: (e as Error).message };
  }
  parentPort!.postMessage(reply);
});
