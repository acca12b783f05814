import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../src');

/** Every engine source file and the engine files it imports (type-only imports and re-exports included). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) {
        const text = readFileSync(path, 'utf8');
        const targets = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+'(\.{1,2}\/[^']+)'/g)].map((m) =>
          relative(SRC, resolve(dirname(path), (m[1] as string).replace(/\.js$/, '.ts'))),
        );
        graph.set(relative(SRC, path), targets);
      }
    }
  };
  walk(SRC);
  return graph;
}

/** The import cycles that pass through a module for which `within` holds. */
function cyclesThrough(graph: Map<string, string[]>, within: (file: string) => boolean): string[][] {
  const cycles: string[][] = [];
  const done = new Set<string>();
  for (const start of [...graph.keys()].filter(within).sort()) {
    // Depth-first from each start, iteratively, looking for a path back to it.
    const stack: { file: string; next: number; path: string[] }[] = [{ file: start, next: 0, path: [start] }];
    const seen = new Set<string>([start]);
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as (typeof stack)[number];
      const targets = graph.get(top.file) ?? [];
      if (top.next >= targets.length) {
        stack.pop();
        continue;
      }
      const target = targets[top.next++] as string;
      if (target === start) cycles.push([...top.path, start]);
      else if (!seen.has(target) && !done.has(target) && graph.has(target)) {
        seen.add(target);
        stack.push({ file: target, next: 0, path: [...top.path, target] });
      }
    }
    done.add(start);
  }
  return cycles;
}

describe('the HTTP modules', () => {
  it('import each other without cycles (routes depend on auth, problem and deps, never on the app)', () => {
    const graph = importGraph();
    expect(graph.get('http/app.ts')).toContain('http/routes-orders.ts');
    expect(cyclesThrough(graph, (f) => f.startsWith('http/')).map((c) => c.join(' -> '))).toEqual([]);
  });

  it('finds a cycle when there is one', () => {
    const graph = new Map([
      ['http/app.ts', ['http/routes-a.ts']],
      ['http/routes-a.ts', ['http/auth.ts', 'http/app.ts']],
      ['http/auth.ts', []],
    ]);
    expect(cyclesThrough(graph, (f) => f.startsWith('http/'))).toEqual([['http/app.ts', 'http/routes-a.ts', 'http/app.ts']]);
  });
});
