/**
 * Notices when the config file changes. It watches the file's directory rather than the file: editors
 * and deploy tools often replace a file (write a temporary one, rename it over), which ends a watch on
 * the old inode. Bursts of events (one save is often several writes) are debounced into one call.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

export const DEFAULT_DEBOUNCE_MS = 250;

export class ConfigWatcher {
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly file: string,
    private readonly onChange: () => void,
    private readonly debounceMs = DEFAULT_DEBOUNCE_MS,
  ) {}

  /** Starts watching; returns the error when the directory cannot be watched. */
  start(): Error | undefined {
    const name = basename(this.file);
    try {
      this.watcher = watch(dirname(this.file), { persistent: false }, (_event, filename) => {
        if (filename !== null && filename.toString() !== name) return;
        this.schedule();
      });
      this.watcher.on('error', () => this.close());
    } catch (e) {
      return e as Error;
    }
    return undefined;
  }

  close(): void {
    this.watcher?.close();
    this.watcher = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.onChange();
    }, this.debounceMs);
    this.timer.unref();
  }
}
