#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ApiError as ClientError } from '@orderflow/client';
import { type Api, type CliValues, openApi, printProblems, UsageError } from './cli/context.js';
import { type Config, ConfigError, loadConfig } from './config.js';

// Each command loads only what it needs, so `--help` and remote commands start quickly.
const commands = {
  deliveries: () => import('./cli/commands/deliveries.js'),
  demo: () => import('./cli/commands/demo.js'),
  migrate: () => import('./cli/commands/migrate.js'),
  serve: () => import('./cli/commands/serve.js'),
  token: () => import('./cli/commands/token.js'),
  worker: () => import('./cli/commands/worker.js'),
  workflow: () => import('./cli/commands/workflow.js'),
};

const USAGE = `Usage: orderflow <command> [options]
       orderflow --version | --help

Server:
  serve [--no-worker]                API, web UI and worker in one process (--no-worker: API and UI
                                     only; an orderflow worker process sends deliveries and fires timers)
  worker                             only the worker (deliveries and timers)
  migrate                            apply database migrations and exit
  demo [--count N]                   seed the demo and move a stream of orders through it
  webhook-secret                     print the global webhook signing secret (whsec_...) receivers verify with

Workflows and orders (on the local database, or on a server with --url and --token):
  workflow validate <file>           validate a workflow definition file (JSON)
  workflow push <file> [--publish] [--yes]
                                     store a definition as the draft (creating the workflow if new);
                                     --publish shows the impact on orders in flight and asks first
  workflow pull <key> [--draft]      print a workflow's published definition (or draft) as JSON
  workflow versions <key>            list published versions with publisher and time
  migrate <workflow> --to <N> [--timers keep|recompute|cancel] [--state S] [--dry-run]
                                     move orders to a newer version
  token create --role <admin|designer|operator|viewer> [--name <text>] [--expires-at <ISO time>]
  token list                         list tokens (id, name, role, created, last used, expiry)
  token revoke <id>                  revoke a token at once
  deliveries retry <id> [--force]    send a delivery again (--status failed|dead for all of them)

Remote server:
  --url <http://host:port>           the server (or ORDERFLOW_URL)
  --token <token>                    an API token of that server (or ORDERFLOW_TOKEN)

Configuration of the local database comes from the environment (see README): ORDERFLOW_DATABASE_URL, ...`;

/** The version of this package (`orderflow --version`). */
function version(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/**
 * A reader that goes away early (`orderflow token list | head -1`) closes our stdout: the rest of
 * the output is dropped quietly and the command ends as it would have (its cleanup, such as
 * removing the local API's token, still runs), instead of a crash with a stack trace.
 */
function dropOutputOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
    stream.write = (() => true) as typeof stream.write;
  });
}
dropOutputOnClosedPipe(process.stdout);
dropOutputOnClosedPipe(process.stderr);

/** Runs a command against the API: the server of --url, or the local database. */
async function withApi(values: CliValues, config: () => Readonly<Config>, fn: (api: Api) => Promise<number>): Promise<number> {
  const api = await openApi(values, config);
  try {
    return await fn(api);
  } finally {
    await api.close();
  }
}

/** A required argument, checked before any database or server is opened. */
function need(value: string | undefined, what: string): string {
  if (!value) throw new UsageError(`missing ${what}`);
  return value;
}

/** Names what is wrong with a command's subcommand: missing, or not one of `known`. */
function subcommandProblem(cmd: string, sub: string | undefined, known: string[]): string {
  const list = known.join(', ');
  return sub === undefined ? `${cmd} needs a subcommand: ${list}` : `unknown subcommand "${sub}" of ${cmd} (${list})`;
}

/** The short message of an argument mistake parseArgs found (its own messages run long). */
function parseArgsProblem(e: Error & { code?: string }): string | undefined {
  const option = /'([^']+)'/.exec(e.message)?.[1];
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option '${option}'`;
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') return option ? `option '${option}' needs a value` : e.message;
  if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return e.message;
  return undefined;
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      role: { type: 'string' },
      name: { type: 'string' },
      publish: { type: 'boolean' },
      draft: { type: 'boolean' },
      yes: { type: 'boolean', short: 'y' },
      count: { type: 'string' },
      to: { type: 'string' },
      timers: { type: 'string' },
      state: { type: 'string' },
      'dry-run': { type: 'boolean' },
      'no-worker': { type: 'boolean' },
      status: { type: 'string' },
      force: { type: 'boolean' },
      'expires-at': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
  const [cmd, sub, arg] = positionals;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.version) {
    console.log(version());
    return 0;
  }
  if (!cmd) {
    console.error(USAGE);
    return 64;
  }
  const v = values as CliValues;
  let loaded: Readonly<Config> | undefined;
  const config = () => {
    loaded ??= loadConfig();
    return loaded;
  };
  const remote = v.url !== undefined || process.env.ORDERFLOW_URL !== undefined;
  const api = (fn: (api: Api) => Promise<number>) => withApi(v, config, fn);

  switch (cmd) {
    case 'serve':
      return (await commands.serve()).serve(config(), { worker: v['no-worker'] !== true });
    case 'worker':
      return (await commands.worker()).runWorker(config());
    case 'demo':
      return (await commands.demo()).runDemo(config(), v);
    case 'webhook-secret':
      return (await commands.serve()).webhookSecret(config());
    case 'migrate': {
      const migrate = await commands.migrate();
      if (!sub) return migrate.database(config());
      const body = migrate.ordersBody(v);
      return api((a) => migrate.orders(a, sub, body));
    }
    case 'workflow': {
      const workflow = await commands.workflow();
      switch (sub) {
        case 'validate':
          return workflow.validate(arg, remote ? () => openApi(v, config) : undefined);
        case 'push': {
          const file = workflow.readDefinition(need(arg, '<file>: workflow push <file>'));
          return api((a) => workflow.push(a, file, v));
        }
        case 'pull': {
          const key = need(arg, '<key>: workflow pull <key>');
          return api((a) => workflow.pull(a, key, v));
        }
        case 'versions': {
          const key = need(arg, '<key>: workflow versions <key>');
          return api((a) => workflow.versions(a, key));
        }
        default:
          throw new UsageError(subcommandProblem('workflow', sub, ['validate', 'push', 'pull', 'versions']));
      }
    }
    case 'token': {
      const token = await commands.token();
      switch (sub) {
        case 'create':
          return token.create(v, remote ? () => openApi(v, config) : undefined, config);
        case 'list':
          return api((a) => token.list(a));
        case 'revoke': {
          const id = need(arg, '<id>: token revoke <id>');
          return api((a) => token.revoke(a, id));
        }
        default:
          throw new UsageError(subcommandProblem('token', sub, ['create', 'list', 'revoke']));
      }
    }
    case 'deliveries': {
      if (sub !== 'retry') throw new UsageError(subcommandProblem('deliveries', sub, ['retry']));
      const deliveries = await commands.deliveries();
      const which = deliveries.retryTarget(arg, v);
      return api((a) => deliveries.retry(a, which));
    }
    default:
      throw new UsageError(`unknown command "${cmd}"`);
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
    const usage = e instanceof UsageError ? e.message : parseArgsProblem(e as Error);
    if (usage !== undefined) {
      // A short message naming the mistake; the whole usage is one `--help` away.
      console.error(`orderflow: ${usage}\nRun \`orderflow --help\` for the usage.`);
      process.exit(64);
    }
    if (e instanceof ClientError) {
      // A refusal of the API: its code and message, and the definition's problems when there are any.
      console.error(`${e.code}: ${e.detail ?? e.title}${e.status === 0 ? '' : ` (HTTP ${e.status})`}`);
      if (e.problems) printProblems(e.problems);
      for (const err of e.errors ?? []) console.error(`  ${err.path}: ${err.message}`);
      process.exit(1);
    }
    console.error(e);
    process.exit(1);
  },
);
