/**
 * What the throwaway servers share: a free loopback port, a check that a
 * port accepts connections, starting a server process and waiting until it
 * listens, and stopping server processes when this process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') {
    throw new Error('Could not find a free loopback port');
  }
  return address.port;
}

export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const running = new Set<ChildProcess>();

/** Kills `child` if it is still running when this process exits. */
export function stopOnExit(child: ChildProcess): void {
  if (running.size === 0) {
    process.once('exit', () => running.forEach((each) => each.kill()));
  }
  running.add(child);
  child.once('exit', () => running.delete(child));
}

export interface ServerLaunch {
  /** The program's name in messages: "slapd", "ns-slapd". */
  readonly name: string;
  readonly program: string;
  readonly args: readonly string[];
  /** Loopback ports that must all accept connections. */
  readonly ports: readonly number[];
  readonly timeoutMs: number;
  /** Appended to a failure's message, such as where the server logs. */
  readonly hint?: string;
}

/**
 * Starts a server in its own process group (so that a Ctrl-C meant for a
 * foreground agent does not stop the directory under it), stopped when
 * this process exits; resolves once every port accepts connections.
 */
export async function launchServer(launch: ServerLaunch) {
  const child = spawn(launch.program, launch.args, {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  stopOnExit(child);
  const hint = launch.hint === undefined ? '' : ` ${launch.hint}`;
  const deadline = Date.now() + launch.timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(
        `${launch.name} exited at start (${child.exitCode}): ${stderr}.${hint}`,
      );
    }
    const listening = await Promise.all(launch.ports.map(accepts));
    if (listening.every(Boolean)) return child;
    await sleep(50);
  }
  child.kill();
  throw new Error(
    `${launch.name} did not listen on port ${launch.ports.join(', ')} ` +
      `within ${launch.timeoutMs / 1000} s.${hint}`,
  );
}
