/** Timers: proxy_set_tick_period_milliseconds (the VM's owner calls proxy_on_tick at that period). */
import { Status } from './abi.js';
import { guarded, type HostFunctions, type HostState } from './host.js';

export function timerImports(host: HostState): HostFunctions {
  return {
    proxy_set_tick_period_milliseconds: guarded((ms) => {
      host.setTickPeriod(ms! >>> 0);
      return Status.Ok;
    }),
  };
}
