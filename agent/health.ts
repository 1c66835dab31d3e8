/**
 * The monitoring endpoint: `GET /metrics` in Prometheus' text format and
 * `GET /health` for a load balancer or a check.
 *
 * /health answers 200 while the watch is up, or has been down for less
 * than one reconcile interval (the reconcile still finds events meanwhile),
 * and 503 after that. In poll mode there is no watch: the answer is 503
 * once no reconcile has completed for two intervals.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Listen } from './config.js';
import type { Logger } from './log.js';
import type { Metrics, WatchHealth } from './metrics.js';

export interface HealthReport {
  readonly healthy: boolean;
  readonly body: {
    readonly watch: 'up' | 'down';
    readonly mode: string | null;
    readonly lastReconcile: string | null;
  };
}

/** What /health answers for `state` at `now`. */
export function healthReport(
  state: WatchHealth,
  reconcileIntervalMs: number,
  now = Date.now(),
): HealthReport {
  const healthy =
    state.mode === 'poll'
      ? now - (state.lastReconcile ?? state.downSince) <=
        2 * reconcileIntervalMs
      : state.up || now - state.downSince <= reconcileIntervalMs;
  const up = state.mode === 'poll' ? healthy : state.up;
  const last = state.lastReconcile;
  return {
    healthy,
    body: {
      watch: up ? 'up' : 'down',
      mode: state.mode ?? null,
      lastReconcile: last === undefined ? null : new Date(last).toISOString(),
    },
  };
}

export class MonitoringServer {
  readonly #server: http.Server;

  constructor(
    private readonly metrics: Metrics,
    private readonly reconcileIntervalMs: number,
  ) {
    this.#server = http.createServer((request, response) => {
      void this.answer(request, response);
    });
  }

  /** Listens; rejects if the address is taken or not this host's. */
  async listen(at: Listen, log: Logger): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(at.port, at.host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const { address, port } = this.#server.address() as AddressInfo;
    log.info('Serving metrics and health', { address, port });
  }

  async close(): Promise<void> {
    if (!this.#server.listening) return;
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  private async answer(
    request: http.IncomingMessage,
    response: http.ServerResponse,
  ): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    switch (url.pathname) {
      case '/metrics': {
        const { registry } = this.metrics;
        const text = await registry.metrics();
        response.writeHead(200, { 'content-type': registry.contentType });
        response.end(text);
        return;
      }
      case '/health': {
        const report = healthReport(
          this.metrics.health,
          this.reconcileIntervalMs,
        );
        response.writeHead(report.healthy ? 200 : 503, {
          'content-type': 'application/json',
        });
        response.end(JSON.stringify(report.body));
        return;
      }
      default:
        response.writeHead(404).end();
    }
  }
}
