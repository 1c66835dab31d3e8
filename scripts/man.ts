/**
 * Writes the man pages and the bash completion from the commands' own
 * `--help`, so they cannot disagree with it. Run after `tsc` (`npm run
 * build`); writes dist/man/*.1 and dist/completion/prometheus-eventqueue.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A command and the compiled file that runs it, from the package root. */
export const COMMANDS = [
  { name: 'prometheus-eventqueue', main: 'dist/cli/main.js' },
  { name: 'prometheus-eventqueue-agent', main: 'dist/agent/main.js' },
] as const;

/** One option as `--help` lists it: its flags and what it does. */
export interface HelpOption {
  flags: string;
  description: string;
}

/** `--help` read into its parts. */
export interface Help {
  usage: string;
  description: string;
  options: HelpOption[];
  examples: string[];
}

/** Reads commander's help layout: Usage, description, Options, Examples. */
export function parseHelp(text: string): Help {
  const lines = text.split('\n');
  const help: Help = { usage: '', description: '', options: [], examples: [] };
  let section = 'description';
  const description: string[] = [];
  for (const line of lines) {
    if (line.startsWith('Usage: ')) {
      help.usage = line.slice('Usage: '.length).trim();
    } else if (/^\S.*:$/.test(line)) {
      section = line.slice(0, -1).toLowerCase();
    } else if (section === 'description') {
      description.push(line.trim());
    } else if (section === 'options') {
      addOptionLine(help.options, line);
    } else if (section === 'examples' && line.trim() !== '') {
      help.examples.push(line.trim());
    }
  }
  help.description = description.join(' ').replace(/\s+/g, ' ').trim();
  return help;
}

/** An option starts with `  -`; deeper-indented lines continue it. */
function addOptionLine(options: HelpOption[], line: string): void {
  const start = /^ {2}(-\S.*?)(?: {2,}(.*))?$/.exec(line);
  if (start !== null) {
    options.push({ flags: start[1] ?? '', description: start[2] ?? '' });
    return;
  }
  const last = options.at(-1);
  if (last === undefined || line.trim() === '') return;
  last.description = `${last.description} ${line.trim()}`.trim();
}

/** Text made safe for roff: backslashes, hyphens, leading dots. */
function roff(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/^([.'])/, '\\&$1');
}

/** A section-1 man page from a command's help and version. */
export function manPage(name: string, version: string, help: Help): string {
  const lines = [
    `.TH ${name.toUpperCase()} 1 "" "${name} ${version}" "User Commands"`,
    '.SH NAME',
    `${roff(name)} \\- ${roff(help.description)}`,
    '.SH SYNOPSIS',
    `.B ${roff(name)}`,
    roff(help.usage.slice(name.length).trim()),
    '.SH DESCRIPTION',
    roff(help.description),
    '.SH OPTIONS',
  ];
  for (const option of help.options) {
    lines.push('.TP', `.B ${roff(option.flags)}`, roff(option.description));
  }
  if (help.examples.length > 0) {
    lines.push('.SH EXAMPLES', '.nf', ...help.examples.map(roff), '.fi');
  }
  lines.push(
    '.SH SEE ALSO',
    roff(COMMANDS.map((c) => `${c.name}(1)`).join(', ')),
  );
  return `${lines.join('\n')}\n`;
}

/** Every long and short flag the help lists, e.g. `--config`, `-c`. */
export function flagsOf(help: Help): string[] {
  return help.options.flatMap((option) =>
    option.flags.split(/[ ,]+/).filter((word) => /^--?[A-Za-z]/.test(word)),
  );
}

/** A bash completion for both commands: flags, and files after --config. */
export function bashCompletion(commands: Map<string, Help>): string {
  const lines = [
    '# bash completion for the prometheus-eventqueue commands.',
    '# Generated from their --help by scripts/man.ts; do not edit.',
  ];
  for (const [name, help] of commands) {
    const fn = `_${name.replace(/-/g, '_')}`;
    lines.push(
      `${fn}() {`,
      '  local cur="${COMP_WORDS[COMP_CWORD]}"',
      '  local prev="${COMP_WORDS[COMP_CWORD-1]}"',
      '  case "$prev" in',
      '    -c|--config) COMPREPLY=($(compgen -f -- "$cur")); return ;;',
      '  esac',
      `  COMPREPLY=($(compgen -W "${flagsOf(help).join(' ')}" -- "$cur"))`,
      '}',
      `complete -o default -F ${fn} ${name}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function run(root: URL, main: string, flag: string): string {
  const file = fileURLToPath(new URL(main, root));
  return execFileSync(process.execPath, [file, flag], { encoding: 'utf8' });
}

function main(): void {
  const root = new URL('../../', import.meta.url);
  const helps = new Map<string, Help>();
  mkdirSync(new URL('dist/man/', root), { recursive: true });
  mkdirSync(new URL('dist/completion/', root), { recursive: true });
  for (const command of COMMANDS) {
    const help = parseHelp(run(root, command.main, '--help'));
    const version = run(root, command.main, '--version').trim();
    helps.set(command.name, help);
    const page = new URL(`dist/man/${command.name}.1`, root);
    writeFileSync(page, manPage(command.name, version, help));
  }
  const completion = new URL('dist/completion/prometheus-eventqueue', root);
  writeFileSync(completion, bashCompletion(helps));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
