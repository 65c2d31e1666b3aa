/**
 * Logging, clocks and the WASI functions the spec asks every host to provide (so modules built for
 * wasm32-wasi load): proxy_log, proxy_get_log_level, proxy_get_current_time_nanoseconds, and
 * wasi_snapshot_preview1 fd_write, clock_time_get, random_get, environ_*, args_*, proc_exit.
 */
import { randomFillSync } from 'node:crypto';
import type { FilterLogLevel } from '../filter-instance.js';
import { LogLevel, Status, WasiErrno } from './abi.js';
import { guarded, type HostFunctions, type HostState } from './host.js';
import { MemoryAccessError } from './vm-memory.js';

const LEVELS: readonly FilterLogLevel[] = ['debug', 'debug', 'info', 'warn', 'error', 'error'];

/** proc_exit: the module gave up; the call fails like a trap and the VM is replaced. */
export class ProcExit extends WebAssembly.RuntimeError {
  constructor(readonly code: number) {
    super(`proc_exit(${code})`);
  }
}

export function loggingImports(host: HostState, logLevel: number): HostFunctions {
  const memory = host.memory;
  const env = host.env;
  return {
    proxy_log: guarded((level, ptr, len) => {
      if (!(level! >= LogLevel.Trace && level! <= LogLevel.Critical)) return Status.BadArgument;
      if (level! >= logLevel) env.log(env.name, LEVELS[level!]!, memory.string(ptr!, len!));
      return Status.Ok;
    }),
    proxy_get_log_level: guarded((retPtr) => {
      memory.setU32(retPtr!, logLevel);
      return Status.Ok;
    }),
    proxy_get_current_time_nanoseconds: guarded((retPtr) => {
      memory.setU64(retPtr!, BigInt(Math.round(env.now() * 1e6)));
      return Status.Ok;
    }),
  };
}

function wasi(fn: (...args: number[]) => number): (...args: number[]) => number {
  return (...args: number[]) => {
    try {
      return fn(...args);
    } catch (error) {
      if (error instanceof MemoryAccessError) return WasiErrno.Fault;
      throw error;
    }
  };
}

export function wasiImports(host: HostState): HostFunctions {
  const memory = host.memory;
  const env = host.env;
  return {
    fd_write: wasi((fd, iovs, count, retWritten) => {
      if (fd !== 1 && fd !== 2) return WasiErrno.Badf;
      let text = '';
      let written = 0;
      const table = memory.copy(iovs!, count! * 8);
      const view = new DataView(table.buffer);
      for (let i = 0; i < count!; i++) {
        const len = view.getUint32(i * 8 + 4, true);
        text += memory.string(view.getUint32(i * 8, true), len);
        written += len;
      }
      env.log(env.name, fd === 1 ? 'info' : 'error', text.replace(/\n$/, ''));
      memory.setU32(retWritten!, written);
      return WasiErrno.Success;
    }),
    clock_time_get: wasi((clock, _precision, retPtr) => {
      const ns = clock === 0 ? BigInt(Math.round(env.now() * 1e6)) : process.hrtime.bigint();
      memory.setU64(retPtr!, ns);
      return WasiErrno.Success;
    }),
    random_get: wasi((ptr, len) => {
      if (len! > 64 * 1024) return WasiErrno.Inval;
      randomFillSync(memory.bytes(ptr!, len!));
      return WasiErrno.Success;
    }),
    environ_sizes_get: wasi((retCount, retSize) => {
      memory.setU32(retCount!, 0);
      memory.setU32(retSize!, 0);
      return WasiErrno.Success;
    }),
    environ_get: wasi(() => WasiErrno.Success),
    args_sizes_get: wasi((retCount, retSize) => {
      memory.setU32(retCount!, 0);
      memory.setU32(retSize!, 0);
      return WasiErrno.Success;
    }),
    args_get: wasi(() => WasiErrno.Success),
    proc_exit: (code?: number) => {
      throw new ProcExit(code ?? 0);
    },
  };
}
