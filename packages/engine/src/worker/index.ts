export * from './metrics.js';
export * from './notifications.js';
export * from './prepare.js';
export * from './settings.js';
export * from './worker.js';
