export * from './condition.js';
export * from './definition.js';
export * from './duration.js';
export * from './errors.js';
export * from './model.js';
