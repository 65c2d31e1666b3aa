/**
 * proxy_set_effective_context: which context later host calls act on. In Envoy a module switches to
 * a stream's context from a root-context callback (an HTTP call's response) to change that stream.
 * This host runs one callback at a time and has no such deferred callbacks, so the only context a
 * call can act on is the one whose callback runs: switching to it is OK, to any other NOT_FOUND.
 * The AssemblyScript SDK imports it for every filter (BaseContext.setEffectiveContext).
 */
import { Status } from './abi.js';
import { guarded, type HostFunctions, type HostState } from './host.js';

export function contextImports(host: HostState): HostFunctions {
  return {
    proxy_set_effective_context: guarded((id) => (id! >>> 0 === host.context && host.context !== 0 ? Status.Ok : Status.NotFound)),
  };
}
