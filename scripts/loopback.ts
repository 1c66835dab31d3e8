/**
 * What the throwaway servers share: a free loopback port, a check that a
 * port accepts connections, and stopping server processes when this
 * process exits.
 */
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';

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
