/**
 * Running the agent as a process: configuration, logging, signals.
 * Used by `prometheus-eventqueue-agent` and by `prometheus-eventqueue
 * --monitor`.
 */
import { Agent } from './agent.js';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  ConfigError,
  isLoopback,
  loadConfig,
  readPassword,
  type Config,
} from './config.js';
import { MonitoringServer } from './health.js';
import {
  closeLogger,
  createLogger,
  reopenLogFile,
  type Logger,
} from './log.js';
import { favourSmallHeap } from './memory.js';
import { Metrics } from './metrics.js';
import { summarize } from './reload.js';
import { notifyStopping, startWatchdog, systemd } from './systemd.js';
import { createWatch } from './watch/select.js';

/**
 * Runs the agent until SIGTERM or SIGINT; resolves with the exit code.
 * The first signal stops gracefully; a second ends the running conduit and
 * the process at once. SIGHUP reopens the log file and reloads the
 * configuration (see reload.ts).
 */
export async function runAgent(file: string): Promise<number> {
  favourSmallHeap();
  const config = loadConfig(file);
  checkLogFolder(config);
  const password = readPassword(config);
  const log = createLogger({
    level: config.agent.logLevel,
    file: config.agent.logFile,
    format: config.agent.logFormat,
  });
  warnLoosePermissions(config, log);
  systemd.useLog(log);
  const metrics = new Metrics();
  const agent = new Agent(
    config,
    password,
    log,
    (mode, listener) => createWatch(mode, config, password, listener, log),
    metrics,
  );
  const monitoring = new MonitoringServer(
    metrics,
    config.agent.reconcileIntervalMs,
  );
  const hangup = () => onHangup(agent, log);
  process.on('SIGHUP', hangup);
  try {
    await startMonitoring(config, monitoring, log);
    await agent.start();
  } catch (error) {
    await notifyStopping();
    process.off('SIGHUP', hangup);
    await agent.stop();
    await monitoring.close();
    await closeLogger(log);
    throw error;
  }

  // The watchdog proves the process is not hung. It does not wait on the
  // directory: an agent whose directory is down keeps reconnecting by
  // itself, and restarting it would only turn that into a restart loop.
  const stopWatchdog = startWatchdog();
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info('Stopping', { signal });
  void notifyStopping();
  const again = () => {
    log.warn('Second signal: ending the running conduit now');
    agent.kill();
  };
  process.once('SIGTERM', again);
  process.once('SIGINT', again);
  await agent.stop();
  stopWatchdog();
  await monitoring.close();
  process.off('SIGHUP', hangup);
  await closeLogger(log);
  exitIfStillHeld();
  return 0;
}

async function startMonitoring(
  config: Config,
  monitoring: MonitoringServer,
  log: Logger,
): Promise<void> {
  const at = config.agent.metricsListen;
  if (at === undefined) return;
  if (!isLoopback(at.host)) {
    log.warn(
      'agent.metrics.listen is not a loopback address: anyone who can ' +
        'reach it can read the conduit names and queue counts',
      { listen: `${at.host}:${at.port}` },
    );
  }
  await monitoring.listen(at, log);
}

/**
 * SIGHUP: reopen the log file (after logrotate moved it), then read the
 * configuration again. An invalid file changes nothing.
 */
function onHangup(agent: Agent, log: Logger): void {
  reopenLogFile(log);
  let next: Config;
  try {
    next = loadConfig(agent.config.file);
  } catch (error) {
    const problems =
      error instanceof ConfigError ? error.problems : [String(error)];
    log.error(
      'Configuration not reloaded: the file is not valid; ' +
        'keeping the running configuration',
      { problems },
    );
    return;
  }
  const summary = summarize(agent.config, next);
  agent.reload(next);
  log.info('Configuration reloaded; the next runs use it', {
    conduits: next.conduits.size,
    added: summary.added,
    removed: summary.removed,
    changed: summary.changed,
    logLevel: summary.logLevel ?? 'unchanged',
  });
  if (summary.notReloaded.length > 0) {
    log.warn('Some changed settings apply only when the agent restarts', {
      keys: summary.notReloaded.join(','),
    });
  }
}

/** A log file's folder must exist: the agent does not create folders. */
function checkLogFolder(config: Config): void {
  const file = config.agent.logFile;
  if (file === undefined || existsSync(path.dirname(file))) return;
  throw new ConfigError(config.file, [
    `agent.logFile: found ${JSON.stringify(file)}, but the folder ` +
      `${path.dirname(file)} does not exist; create it or choose another`,
  ]);
}

/**
 * Permission bits that let someone other than the owner and the owner's
 * group read the file, or anyone but the owner write or execute it. Group
 * read is allowed: the systemd unit's layout is root:prometheus-eventqueue,
 * mode 0640, so that the agent can read its configuration and password
 * but not rewrite them.
 */
const LOOSE_BITS = 0o037;

/**
 * Warns, once per file, when the configuration file (which names the
 * commands the agent runs) or the bind password file is open to more than
 * its owner and group. The agent runs on: the operator fixes it.
 */
function warnLoosePermissions(config: Config, log: Logger): void {
  const files = new Map([
    [config.file, 'configuration file'],
    [config.ldap.passwordFile, 'ldap.passwordFile'],
  ]);
  for (const [file, what] of files) {
    if (file === undefined) continue;
    const mode = modeOf(file);
    if (mode === undefined || (mode & LOOSE_BITS) === 0) continue;
    log.warn(
      `The ${what} can be read or written by others than its owner and ` +
        'group; restrict it with the chmod given',
      {
        file,
        mode: `0${mode.toString(8).padStart(3, '0')}`,
        fix: `chmod g-wx,o-rwx ${file}`,
      },
    );
  }
}

function modeOf(file: string): number | undefined {
  try {
    return statSync(file).mode & 0o777;
  } catch {
    return undefined;
  }
}

/**
 * Everything was closed, so the process should end by itself. Something
 * still holding it open is a defect, reported here (the tests fail on this
 * line), but it must not keep a stopped agent alive.
 */
function exitIfStillHeld(): void {
  setTimeout(() => {
    process.stderr.write(
      'Warning: connections or timers still open 2 s after the agent ' +
        'stopped; exiting anyway\n',
    );
    process.exit(process.exitCode ?? 0);
  }, 2000).unref();
}
