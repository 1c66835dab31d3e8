/**
 * Logging: one line per state change and per finished event, a sentence for
 * people followed by key=value fields for programs.
 *
 * The log file also carries, for each event, the plain lines that operators
 * of the system this replaces already read and grep for ("Running event:",
 * "Conduit:", "Additional options:", "Deleting event:"). Those are marked
 * `operator` and kept off stdout, where the structured line says the same.
 */
import winston from 'winston';

export type Logger = winston.Logger;
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export interface LogOptions {
  readonly level: LogLevel;
  readonly file?: string | undefined;
  /** Write structured lines to stdout. @default true */
  readonly stdout?: boolean;
}

const RESERVED = new Set(['level', 'message', 'timestamp', 'operator']);

/** `message key=value ...`, quoting values that need it. */
const line = winston.format.printf((info) => {
  const fields = Object.entries(info)
    .filter(([key]) => !RESERVED.has(key))
    .map(([key, value]) => `${key}=${formatValue(value)}`);
  const text = [String(info.message), ...fields].join(' ');
  return `${String(info.timestamp)} ${info.level}: ${text}`;
});

const structuredOnly = winston.format((info) =>
  info.operator === true ? false : info,
);

export function createLogger(options: LogOptions): Logger {
  const transports: winston.transport[] = [];
  if (options.stdout ?? true) {
    const console = new winston.transports.Console({
      format: winston.format.combine(structuredOnly(), line),
    });
    // A closed stdout (a pipe whose reader went away) must not stop the
    // agent in the middle of a run: stop writing there, keep the log file.
    process.stdout.on('error', () => (console.silent = true));
    transports.push(console);
  }
  if (options.file !== undefined) {
    transports.push(
      new winston.transports.File({ filename: options.file, format: line }),
    );
  }
  return winston.createLogger({
    level: options.level,
    format: winston.format.timestamp(),
    transports,
  });
}

/** Writes one of the plain lines that only the log file carries. */
export function operatorLine(log: Logger, text: string): void {
  log.info(text, { operator: true });
}

/** Waits until every transport has written what it was given. */
export async function closeLogger(log: Logger): Promise<void> {
  const finished = new Promise((resolve) => log.once('finish', resolve));
  log.end();
  await finished;
}

function formatValue(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.message);
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return /^[^\s"=]+$/.test(text ?? '')
    ? (text as string)
    : JSON.stringify(text);
}
