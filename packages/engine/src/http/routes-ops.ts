import type { FastifyInstance } from 'fastify';
import type { AppDeps, OpsDeps } from './deps.js';
import { registerAutomationRoutes } from './routes-automation.js';
import { registerDeliveryRoutes } from './routes-deliveries.js';
import { registerEndpointRoutes } from './routes-endpoints.js';
import { registerMailboxRoutes } from './routes-mailbox.js';
import { registerNotificationRoutes } from './routes-notifications.js';
import { registerRunRoutes } from './routes-runs.js';
import { registerStatsRoutes } from './routes-stats.js';
import { registerTemplatePreviewRoutes } from './routes-templates.js';
import { registerTimerRoutes } from './routes-timers.js';

export type { OpsDeps } from './deps.js';
export { sampleOrder, validateTemplateSource } from './sample-order.js';

/**
 * The operations routes, which need the worker's parts besides the app's own dependencies:
 * deliveries, endpoints, timers, rule runs, automation, notifications, mailbox, template
 * previews and stats.
 */
export function createOpsRoutes(ops: OpsDeps): (api: FastifyInstance, deps: AppDeps) => void {
  return (api, deps) => {
    if (ops.metrics) {
      const metrics = ops.metrics;
      api.addHook('onResponse', async (req, reply) => {
        metrics.httpRequest(req.method, req.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
      });
    }
    registerDeliveryRoutes(api, deps, ops);
    registerEndpointRoutes(api, deps, ops);
    registerTimerRoutes(api, deps, ops);
    registerRunRoutes(api, deps);
    registerAutomationRoutes(api, deps, ops);
    registerNotificationRoutes(api, deps, ops);
    registerMailboxRoutes(api, deps);
    registerTemplatePreviewRoutes(api, deps, ops);
    registerStatsRoutes(api, deps);
  };
}
