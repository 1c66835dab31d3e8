/**
 * What the CLI prints, and how it ends when no one reads it any more.
 */

/** Prints text as is, or a value as indented JSON. */
export function write(value: unknown, json = false): void {
  process.stdout.write(
    json ? `${JSON.stringify(value, null, 2)}\n` : String(value),
  );
}

/**
 * Output to a pipe whose reader has gone (`--display | head -3`) ends the
 * process quietly with the status so far, as a tool killed by SIGPIPE
 * would stop, instead of with a stack trace. The action's work may be
 * cut short there, as it would be by SIGPIPE; anything it wrote to the
 * directory before stays.
 */
export function endQuietlyOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
      process.exit(process.exitCode ?? 0);
    });
  }
}
