/**
 * What the CLI prints.
 */

/** Prints text as is, or a value as indented JSON. */
export function write(value: unknown, json = false): void {
  process.stdout.write(
    json ? `${JSON.stringify(value, null, 2)}\n` : String(value),
  );
}
