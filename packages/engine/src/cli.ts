#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type Problem, ROLES, type Role, validateDefinition } from '@orderflow/core';
import { createToken } from './bootstrap.js';
import { ConfigError, loadConfig } from './config.js';
import { ApiError } from './errors.js';
import { systemClock } from './runtime/clock.js';
import { createIdGenerator } from './runtime/ids.js';
import { createOrderflow } from './server.js';
import { openStore } from './store/open.js';
import * as repo from './store/repo.js';
import { ensureWebhookSecret } from './worker/settings.js';
import { createWorkflowService } from './workflows.js';

const USAGE = `Usage: orderflow <command>

Commands:
  serve                        API, web UI and worker in one process
  worker                       only the worker (deliveries and timers)
  migrate                      apply database migrations and exit
  workflow validate <file>     validate a workflow definition file (JSON)
  workflow push <file> [--publish]   store a definition as the draft (creating the workflow if new)
  workflow pull <key> [--draft]      print a workflow's published definition (or draft) as JSON
  token create --role <admin|designer|operator|viewer> [--name <text>]
  demo [--count N]             seed the demo and move a stream of orders through it
  webhook-secret               print the global webhook signing secret (whsec_...) receivers verify with

Configuration comes from the environment (see README): PORT, HOST, ORDERFLOW_DATABASE_URL, ...`;

function printProblems(problems: Problem[]): void {
  for (const p of problems) console.log(`${p.severity.padEnd(7)} ${p.code.padEnd(24)} ${p.path || '(root)'}  ${p.message}`);
}

function readJson(file: string | undefined): unknown {
  if (!file) throw new UsageError('missing <file>');
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`${file}: ${(e as Error).message}`);
  }
}

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      role: { type: 'string' },
      name: { type: 'string' },
      publish: { type: 'boolean' },
      draft: { type: 'boolean' },
      count: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [cmd, sub, arg] = positionals;
  if (!cmd || values.help) {
    console.log(USAGE);
    return cmd ? 0 : 1;
  }
  if (cmd === 'workflow' && sub === 'validate') {
    const result = validateDefinition(readJson(arg));
    printProblems(result.problems);
    console.log(result.ok ? `valid (${result.problems.length} warning(s))` : 'invalid');
    return result.ok ? 0 : 1;
  }

  const config = loadConfig();
  switch (cmd) {
    case 'serve': {
      const of = await createOrderflow(config);
      const address = await of.listen();
      const shown = address.replace('[::1]', 'localhost').replace('127.0.0.1', '127.0.0.1');
      console.log(`\nOrderflow is running at ${shown}/  (API: ${shown}/api/v1, docs: ${shown}/docs)`);
      if (of.adminToken) {
        console.log(`Admin token: ${of.adminToken}${of.adminTokenCreated ? `  (saved to ${of.adminTokenFile})` : ''}`);
      } else {
        console.log(`Admin token: see ${of.adminTokenFile}, or create one with: orderflow token create --role admin`);
      }
      if (!config.webhookSecret)
        console.log('Webhook signing secret: `npx orderflow webhook-secret` prints it (or set ORDERFLOW_WEBHOOK_SECRET).');
      const stop = async (signal: string) => {
        console.log(`\n${signal}: shutting down`);
        await of.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void stop('SIGINT'));
      process.once('SIGTERM', () => void stop('SIGTERM'));
      return -1;
    }
    case 'webhook-secret': {
      const store = await openStore(config.databaseUrl);
      await store.migrate();
      const { secret } = await ensureWebhookSecret(store.db, config.webhookSecret);
      await store.close();
      console.log(secret);
      return 0;
    }
    case 'migrate': {
      const store = await openStore(config.databaseUrl);
      const applied = await store.migrate();
      console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
      await store.close();
      return 0;
    }
    case 'token': {
      if (sub !== 'create') throw new UsageError('token create --role <role>');
      const role = values.role as Role | undefined;
      if (!role || !ROLES.includes(role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
      const store = await openStore(config.databaseUrl);
      await store.migrate();
      const t = await createToken(store, createIdGenerator(systemClock), role, values.name ?? null, new Date().toISOString());
      await store.close();
      console.log(t.token);
      console.error(`created ${t.role} token ${t.id}; it is shown only once`);
      return 0;
    }
    case 'workflow': {
      const store = await openStore(config.databaseUrl);
      await store.migrate();
      const service = createWorkflowService(store, () => new Date().toISOString());
      try {
        if (sub === 'push') {
          const def = readJson(arg) as { key?: unknown };
          const key = typeof def?.key === 'string' ? def.key : '';
          const exists = key ? await repo.getWorkflow(store.db, key) : undefined;
          let view = exists ? await service.saveDraft(key, def) : await service.create(def, false, 'cli');
          if (values.publish) view = await service.publish(view.key, 'cli');
          printProblems(view.problems);
          console.log(
            `${exists ? 'updated' : 'created'} workflow ${view.key}${values.publish ? `, published version ${view.publishedVersion}` : ' (draft)'}`,
          );
          return 0;
        }
        if (sub === 'pull') {
          if (!arg) throw new UsageError('workflow pull <key>');
          const view = await service.view(arg);
          const def = values.draft ? view.draft : view.definition;
          if (!def) throw new UsageError(`workflow ${arg} has no ${values.draft ? 'draft' : 'published version'}`);
          console.log(JSON.stringify(def, null, 2));
          return 0;
        }
        throw new UsageError('workflow validate|push|pull');
      } catch (e) {
        if (e instanceof ApiError) {
          console.error(`${e.code}: ${e.message}`);
          const problems = (e.extra.problems ?? []) as Problem[];
          printProblems(problems);
          return 1;
        }
        throw e;
      } finally {
        await store.close();
      }
    }
    default: {
      const extra = await import('./cli-extra.js').catch(() => null);
      if (extra) {
        const code = await extra.run(cmd, positionals.slice(1), values, config);
        if (code !== undefined) return code;
      }
      throw new UsageError(`unknown command "${cmd}"`);
    }
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (e: unknown) => {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(78);
    }
    if (e instanceof UsageError) {
      console.error(`orderflow: ${e.message}\n\n${USAGE}`);
      process.exit(64);
    }
    console.error(e);
    process.exit(1);
  },
);
