/**
 * The piscina task each worker thread runs for its whole life. It resolves once the worker has drained;
 * if it rejects (the thread died), the supervisor submits a new one.
 */
import type { ServeTask } from '../messages.js';
import { WorkerRuntime } from './worker-runtime.js';

export async function serve(task: ServeTask): Promise<void> {
  await new WorkerRuntime(task).run();
}

export default serve;
