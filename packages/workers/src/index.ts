/**
 * @pillion/workers: threads and sockets. The supervisor (main thread) and what each worker thread runs.
 */
export { Supervisor, type SupervisorOptions } from './supervisor/supervisor.js';
export { loadUws, UwsNotNativeError } from './uws.js';
export type { ControlMessage, StatusMessage, RuntimeSnapshot, ServeTask } from './messages.js';
