/**
 * Logging: one line per state change and per finished event, a sentence for
 * people followed by key=value fields for programs.
 *
 * The log file also carries, for each event, the plain lines that operators
 * of the system this replaces already read and grep for ("Running event:",
 * "Conduit:", "Additional options:", "Deleting event:"). Those are marked
 * `operator` and kept off stdout, where the structured line says the same.
 *
 * Under systemd (JOURNAL_STREAM set) stdout lines start with their syslog
 * priority, `<3>` to `<7>`, and have no timestamp: journald adds its own.
 * The log file always keeps timestamps; SIGHUP reopens it (see daemon.ts).
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import winston from 'winston';

export type Logger = winston.Logger;
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export type LogFormat = 'text' | 'json';

export interface LogOptions {
  readonly level: LogLevel;
  readonly file?: string | undefined;
  /** @default 'text' */
  readonly format?: LogFormat;
  /** Write structured lines to stdout. @default true */
  readonly stdout?: boolean;
  /**
   * Stdout goes to journald: each line starts with its syslog priority
   * and carries no timestamp, which journald adds itself.
   * @default whether JOURNAL_STREAM is set
   */
  readonly journal?: boolean;
}

const RESERVED = new Set(['level', 'message', 'timestamp', 'operator']);

/** Syslog priorities (RFC 5424) of the levels, as sd-daemon(3) reads them. */
const PRIORITY: Record<string, number> = {
  error: 3,
  warn: 4,
  info: 6,
  debug: 7,
};

interface LineOptions {
  readonly format: LogFormat;
  readonly journal: boolean;
}

/** One line: text (`message key=value ...`) or a JSON object. */
function lineFormat({ format, journal }: LineOptions) {
  return winston.format.printf((info) => {
    const fields = Object.entries(info).filter(([key]) => !RESERVED.has(key));
    const body =
      format === 'json'
        ? jsonLine(info, fields, journal)
        : textLine(info, fields, journal);
    return journal ? `<${PRIORITY[info.level] ?? 6}>${body}` : body;
  });
}

function textLine(
  info: winston.Logform.TransformableInfo,
  fields: [string, unknown][],
  journal: boolean,
): string {
  const pairs = fields.map(([key, value]) => `${key}=${formatValue(value)}`);
  const text = [String(info.message), ...pairs].join(' ');
  if (journal) return text;
  return `${String(info.timestamp)} ${info.level}: ${text}`;
}

function jsonLine(
  info: winston.Logform.TransformableInfo,
  fields: [string, unknown][],
  journal: boolean,
): string {
  const values = fields.map(([key, value]) => [key, jsonValue(value)]);
  return JSON.stringify({
    ...(journal ? {} : { timestamp: info.timestamp }),
    level: info.level,
    message: String(info.message),
    ...Object.fromEntries(values),
  });
}

const structuredOnly = winston.format((info) =>
  info.operator === true ? false : info,
);

/** The log file's transport and stream, for reopening after a rotation. */
interface LogFile {
  readonly path: string;
  readonly format: LogFormat;
  transport: winston.transport;
  stream: WriteStream;
}

const files = new WeakMap<Logger, LogFile>();

export function createLogger(options: LogOptions): Logger {
  const format = options.format ?? 'text';
  const journal = options.journal ?? process.env.JOURNAL_STREAM !== undefined;
  const transports: winston.transport[] = [];
  if (options.stdout ?? true) {
    const console = new winston.transports.Console({
      format: winston.format.combine(
        structuredOnly(),
        lineFormat({ format, journal }),
      ),
    });
    // A closed stdout (a pipe whose reader went away) must not stop the
    // agent in the middle of a run: stop writing there, keep the log file.
    process.stdout.on('error', () => (console.silent = true));
    transports.push(console);
  }
  const file =
    options.file === undefined ? undefined : openLogFile(options.file, format);
  if (file !== undefined) transports.push(file.transport);
  const log = winston.createLogger({
    level: options.level,
    format: winston.format.timestamp(),
    transports,
  });
  if (file !== undefined) files.set(log, file);
  return log;
}

function openLogFile(file: string, format: LogFormat): LogFile {
  const stream = createWriteStream(file, { flags: 'a' });
  stream.on('error', (error) =>
    process.stderr.write(`Cannot write the log file ${file}: ${error}\n`),
  );
  const transport = new winston.transports.Stream({
    stream,
    format: lineFormat({ format, journal: false }),
  });
  return { path: file, format, transport, stream };
}

/**
 * Opens the log file again by its name, so that after logrotate renamed
 * it new lines go to a new file; the old one is closed once written.
 */
export function reopenLogFile(log: Logger): void {
  const current = files.get(log);
  if (current === undefined) return;
  const next = openLogFile(current.path, current.format);
  log.add(next.transport);
  log.remove(current.transport);
  current.stream.end();
  files.set(log, next);
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
  const file = files.get(log);
  if (file === undefined || file.stream.closed) return;
  await new Promise((resolve) => file.stream.end(resolve));
}

function jsonValue(value: unknown): unknown {
  return value instanceof Error ? value.message : value;
}

function formatValue(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.message);
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return /^[^\s"=]+$/.test(text ?? '')
    ? (text as string)
    : JSON.stringify(text);
}
