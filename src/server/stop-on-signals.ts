/**
 * What SIGTERM and SIGINT do to `e2ee-chat server`: the first starts the drain (drain.ts) and exits 0
 * when it is done; the drain's bound passing, or a second signal (an operator who will not wait), exits
 * 1 at once. Exiting before the drain ends loses nothing acknowledged: an ack leaves only after its
 * commit, and what was not acknowledged is resent by its client to another node (or to this one, back).
 */
import type { Logger } from 'pino';

export interface SignalStop {
  /** The graceful stop; resolves when the store is closed. */
  drain(): Promise<void>;
  boundMs: number;
  logger: Logger;
  /** process.exit, in production. */
  exit(code: number): void;
  /** Where the signals come from (process, in production). */
  signals: Pick<NodeJS.Process, 'on'>;
}

export function stopOnSignals({ drain, boundMs, logger, exit, signals }: SignalStop): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting before the drain has finished');
      return exit(1);
    }
    stopping = true;
    logger.info({ signal, boundMs }, 'shutting down');
    const bound = setTimeout(() => {
      logger.error({ boundMs }, 'the drain did not finish within its bound: exiting anyway');
      exit(1);
    }, boundMs);
    drain().then(
      () => {
        clearTimeout(bound);
        logger.info('stopped');
        exit(0);
      },
      (err: unknown) => {
        clearTimeout(bound);
        logger.error({ err }, 'the drain failed');
        exit(1);
      },
    );
  };
  signals.on('SIGINT', () => stop('SIGINT'));
  signals.on('SIGTERM', () => stop('SIGTERM'));
}
