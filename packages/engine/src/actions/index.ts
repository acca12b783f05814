export * from './email.js';
export * from './outcome.js';
export * from './template.js';
export * from './webhook.js';
