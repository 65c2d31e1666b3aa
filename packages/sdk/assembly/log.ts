import { log as host_log } from "./host";

/** Log levels; the proxy drops lines below its configured level. */
export enum LogLevel {
  Debug = 0,
  Info = 1,
  Warn = 2,
  Error = 3,
}

/** Writes a line to the proxy's log, tagged with the filter's name. */
export namespace log {
  export function at(level: LogLevel, message: string): void {
    host_log(level, changetype<usize>(message), message.length);
  }
  export function debug(message: string): void {
    at(LogLevel.Debug, message);
  }
  export function info(message: string): void {
    at(LogLevel.Info, message);
  }
  export function warn(message: string): void {
    at(LogLevel.Warn, message);
  }
  export function error(message: string): void {
    at(LogLevel.Error, message);
  }
}
