/**
 * A real nginx as an upstream, run in the foreground from a config written into a temporary
 * directory (pid, logs, temp paths, document root all in there; it listens on 127.0.0.1 only).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

export interface Nginx {
  port: number;
  /** The document root: files written here are served at /NAME. */
  root: string;
  /** What nginx wrote to its error log so far. */
  errorLog(): string;
  stop(): Promise<void>;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function startNginx(binary: string, dir: string, port: number): Promise<Nginx> {
  const root = join(dir, 'www');
  const tmp = join(dir, 'tmp');
  mkdirSync(root, { recursive: true });
  mkdirSync(tmp, { recursive: true });
  const errorLog = join(dir, 'error.log');
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${errorLog} warn;
events { worker_connections 256; }
http {
  access_log ${join(dir, 'access.log')};
  client_body_temp_path ${join(tmp, 'body')};
  proxy_temp_path ${join(tmp, 'proxy')};
  fastcgi_temp_path ${join(tmp, 'fastcgi')};
  uwsgi_temp_path ${join(tmp, 'uwsgi')};
  scgi_temp_path ${join(tmp, 'scgi')};
  default_type application/octet-stream;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    location /echo {
      default_type text/plain;
      return 200 "$http_x_forwarded_for $request_method $request_uri\\n";
    }
  }
}
`,
  );
  // -e: the error log before the config is read (the default /var/log/nginx may not be writable).
  const child: ChildProcess = spawn(binary, ['-c', conf, '-p', dir, '-e', errorLog], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let spawnError: Error | null = null;
  child.once('error', (e) => (spawnError = e));
  const readLog = () => {
    try {
      return readFileSync(errorLog, 'utf8');
    } catch {
      return '';
    }
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (spawnError || child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`nginx (${binary}) did not start: ${spawnError ?? `exit ${child.exitCode ?? child.signalCode}`}\n${out}\n${readLog()}`);
    }
    if (await portOpen(port)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nginx not listening on 127.0.0.1:${port} within 10s\n${out}\n${readLog()}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    port,
    root,
    errorLog: readLog,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM'); // fast shutdown
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    },
  };
}
