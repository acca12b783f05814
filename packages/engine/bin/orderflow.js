#!/usr/bin/env node
// Committed so that `npm ci` can link the `orderflow` command before anything is built;
// the command itself lives in dist/ once `npm run build` (or `npm start`) has run.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  console.error('orderflow: not built yet; run `npm run build` (or `npm start`) in the repository first.');
  process.exit(1);
}
await import(cli.href);
