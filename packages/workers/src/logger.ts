/**
 * pino loggers. JSON lines on stdout; pretty output when pino-pretty is installed and stdout is a TTY.
 * The access log goes through an asynchronous destination so writing it never blocks a request.
 */
import { createRequire } from 'node:module';
import { isMainThread, threadId } from 'node:worker_threads';
import pino, { type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

function prettyAvailable(): boolean {
  if (!process.stdout.isTTY || process.env.PILLION_LOG_FORMAT === 'json') return false;
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

export function createLogger(level: LevelWithSilent, bindings: Record<string, unknown> = {}): Logger {
  const base = { ...bindings, ...(isMainThread ? {} : { thread: threadId }) };
  if (prettyAvailable()) {
    return pino({ level, base, transport: { target: 'pino-pretty', options: { colorize: true } } });
  }
  return pino({ level, base }, pino.destination({ dest: 1, sync: isMainThread }));
}

/** The access logger: one line per request, buffered and flushed asynchronously. */
export function createAccessLogger(): Logger {
  return pino({ base: null, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: 1, sync: false }));
}
