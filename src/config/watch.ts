/**
 * Watches the --config file and hands each configuration it loads to `onConfig`. An edit that does not load (bad
 * JSON, a bad field, the file gone) goes to `onRejected` and changes nothing. Editors save in place, by rename, or
 * by delete and create; chokidar reports each as one event once the writing has settled, and a burst of saves is
 * loaded one at a time, the last one last.
 */
import { watch } from 'chokidar';
import { type LoadConfigOptions, loadConfig, type ProxyConfig } from './load.js';

export interface ConfigWatchOptions extends LoadConfigOptions {
  configPath: string;
  /** A configuration that loaded; the next one is loaded only once this has settled. */
  onConfig(config: ProxyConfig): void | Promise<void>;
  /** Why the file as it is now was not loaded (a ConfigError names every problem), or a watching error. */
  onRejected(error: unknown): void;
}

export interface ConfigWatcher {
  /** Settles once the file is watched: an edit from then on is seen. */
  ready: Promise<void>;
  close(): Promise<void>;
}

/** How long the file's size must stay the same before it is read: a save written in several chunks is read whole. */
const WRITE_SETTLED_MS = 100;

export function watchConfigFile(options: ConfigWatchOptions): ConfigWatcher {
  const watcher = watch(options.configPath, {
    ignoreInitial: true,
    // The proxy lives as long as its client's stdin; a watched file must not keep it alive after that.
    persistent: false,
    awaitWriteFinish: { stabilityThreshold: WRITE_SETTLED_MS, pollInterval: 25 },
  });
  let loading: Promise<void> | undefined;
  let pending = false;
  const loadOnce = async () => {
    try {
      await options.onConfig(await loadConfig(options));
    } catch (error) {
      options.onRejected(error);
    }
  };
  const changed = () => {
    // Saves during a load are read after it, once: the file as it is then is all that matters.
    if (loading) {
      pending = true;
      return;
    }
    loading = (async () => {
      do {
        pending = false;
        await loadOnce();
      } while (pending);
      loading = undefined;
    })();
  };
  const ready = new Promise<void>((resolve) => watcher.once('ready', resolve));
  watcher.on('change', changed).on('add', changed).on('unlink', changed);
  watcher.on('error', (error) => options.onRejected(error));
  return {
    ready,
    async close() {
      await watcher.close();
      await loading;
    },
  };
}
