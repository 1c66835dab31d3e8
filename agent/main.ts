#!/usr/bin/env node
/**
 * prometheus-eventqueue-agent: the daemon that runs queued events.
 */
import { Command } from 'commander';
import { configFile } from './config.js';
import { runAgent } from './daemon.js';
import { reportFatal, VERSION } from './process.js';

const program = new Command('prometheus-eventqueue-agent')
  .description(
    "Watch the Prometheus event queue in LDAP and run each event's conduit.",
  )
  .version(VERSION)
  .option(
    '-c, --config <file>',
    'configuration file (default: $PROMETHEUS_EVENTQUEUE_CONFIG, then ' +
      '/etc/prometheus-eventqueue/config.yaml)',
  )
  .exitOverride()
  .action(async (options: { config?: string }) => {
    process.exitCode = await runAgent(configFile(options.config));
  });

program.parseAsync().catch(reportFatal);
