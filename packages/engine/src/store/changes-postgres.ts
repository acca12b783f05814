import type pg from 'pg';

/**
 * How the statements of a change travel to PostgreSQL. node-postgres sends one statement and
 * waits for its answer before the next, so a change used to cost a round trip per statement:
 * savepoint, locked read, update, timer cancellation, history, rule runs, outbox, release.
 * On a busy connection every round trip is a wake-up of the server process and of ours.
 *
 * Two things cut them down, both on one connection and without changing what runs:
 * - **Writes wait for the next read.** The writes of a change whose result nobody needs at
 *   once (they are marked in `changes.ts`) are held and sent together as one statement of
 *   data-modifying CTEs when anything else runs on the connection, or when the change ends.
 *   An order update carries its version check along: if it changed no row, the change fails
 *   with a serialization failure and the group commit runs it again, as it would a deadlock.
 *   Nothing is ever read that a held write should have changed: every other statement sends
 *   the held writes first.
 * - **Transaction control rides with the next statement.** `begin`, `set local`, `savepoint`
 *   and `release savepoint` are held and sent as one simple query with what follows them:
 *   `release savepoint change; savepoint change; select … for update` between two changes of a
 *   batch (the statement after them is written out with its values as quoted literals, which
 *   PostgreSQL types from their context just as it types node-postgres's untyped parameters;
 *   a statement that cannot be written out safely goes as a parameterised one right after),
 *   `release savepoint change; commit` at the batch's end.
 *
 * - **The last change's writes ride with the COMMIT.** The group commit sends the held writes at
 *   the end of each change, inside its savepoint, except for the last change of a batch: its writes
 *   go in the COMMIT's simple query (`with … select …; commit`), values written in as above, and
 *   the order updates check their row count in SQL (a division by zero when it is not one). If
 *   they fail, the COMMIT never ran and the transaction is still open (the server says so): the
 *   error is the change's own ({@link CommitWritesFailed}), the group commit rolls the change back
 *   to its savepoint and commits the others.
 *
 * A transition in a batch thus costs two round trips (locked read, writes) instead of about
 * eight; begin and commit are shared by the batch, and a change alone costs two (begin with its
 * locked read, its writes with commit).
 *
 * All statements of one CTE see the same snapshot, so an update in it does not see rows another
 * part inserts: a held write that updates a table some other held write already touches is
 * sent in a later statement, which keeps "cancel this visit's timers, then insert the new ones"
 * meaning what it did.
 */

/** Prefix of a statement that may be held until the change's next read (its result is not used). */
export const LATER = '/*of:later*/ ';
/** Prefix of a held update that must change exactly one row (an order at the version it was read at). */
export const LATER_ONE = '/*of:later:1*/ ';
/** Sends the writes held so far; the store runs it at the end of every change. */
export const FLUSH = '/*of:flush*/';

/** Bound parameters per statement: PostgreSQL allows 65535; the held writes of a change are split well below. */
const MAX_PARAMETERS = 30_000;
/** Held writes per statement; more of them make texts that are rarely seen twice. */
const MAX_HELD = 12;

const CONTROL = /^\s*(begin|start transaction|savepoint|release savepoint|set local)\b/i;
const BEGIN = /^\s*(begin|start transaction)\b/i;
const ROLLBACK_TO = /^\s*rollback\s+to\b/i;
const ROLLBACK = /^\s*rollback\s*$/i;
const COMMIT = /^\s*commit\s*$/i;
const WRITE = /^\s*(insert\s+into|update)\s+("?[a-z_]+"?)/i;

/**
 * The writes a change left for its transaction's COMMIT failed (the COMMIT did not run): the
 * transaction is still open, at the change's savepoint if it has one. `cause` is the change's error.
 */
export class CommitWritesFailed extends Error {
  constructor(override readonly cause: unknown) {
    super('The writes sent with COMMIT failed; the transaction is still open.');
  }
}

/** A held order update changed no row: someone else changed the order first. */
export class HeldUpdateMissed extends Error {
  /** serialization_failure: the group commit runs the change again in a later transaction. */
  readonly code = '40001';
  constructor() {
    super('An order changed between its locked read and its update; the change runs again.');
  }
}

interface Held {
  text: string;
  values: unknown[];
  expectOne: boolean;
  table: string;
  update: boolean;
}

/**
 * A statement text cut at its placeholders: `parts[i]` comes before parameter `slots[i]` (1-based),
 * the last part after all of them.
 */
interface Template {
  parts: string[];
  slots: number[];
}
const templates = new Map<string, Template | null>();
const MAX_TEMPLATES = 2000;

/**
 * The placeholders of `text`, or null when writing values into it is not plainly safe: string
 * literals are passed over (a `$1` inside one is text, not a placeholder), and texts with escape
 * strings, backslashes in literals, dollar quoting, comments or several statements are refused.
 */
function templateOf(text: string): Template | null {
  const known = templates.get(text);
  if (known !== undefined) return known;
  const parts: string[] = [];
  const slots: number[] = [];
  let from = 0;
  let i = 0;
  let ok = true;
  while (ok && i < text.length) {
    const c = text[i] as string;
    if (c === "'") {
      // Only plain literals ('it''s'): not E'…', U&'…', B'…', X'…', nor any with a backslash.
      if (i > 0 && /[A-Za-z0-9_&]/.test(text[i - 1] as string)) ok = false;
      let j = i + 1;
      for (;;) {
        const k = text.indexOf("'", j);
        if (k < 0) {
          ok = false;
          break;
        }
        if (text[k + 1] === "'") {
          j = k + 2;
          continue;
        }
        if (text.slice(i, k).includes('\\')) ok = false;
        i = k + 1;
        break;
      }
      continue;
    }
    if (c === '"') {
      const k = text.indexOf('"', i + 1);
      if (k < 0) ok = false;
      i = k + 1;
      continue;
    }
    if (c === '$') {
      const m = /^\$(\d+)/.exec(text.slice(i, i + 8));
      if (m === null) {
        ok = false;
        break;
      }
      parts.push(text.slice(from, i));
      slots.push(Number(m[1]));
      i += m[0].length;
      from = i;
      continue;
    }
    if (c === ';' || (c === '-' && text[i + 1] === '-') || (c === '/' && text[i + 1] === '*')) ok = false;
    i++;
  }
  parts.push(text.slice(from));
  const template = ok ? { parts, slots } : null;
  if (templates.size < MAX_TEMPLATES) templates.set(text, template);
  return template;
}

/**
 * `text` with its parameters written in as quoted literals, for a simple query, or undefined when
 * that is not plainly safe. A quoted literal is of unknown type until its context gives it one,
 * just like the untyped text parameters node-postgres sends, so the statement means the same.
 */
export function inlined(text: string, values: unknown[]): string | undefined {
  const template = templateOf(text);
  if (template === null) return undefined;
  let out = template.parts[0] as string;
  for (let i = 0; i < template.slots.length; i++) {
    const slot = template.slots[i] as number;
    if (slot < 1 || slot > values.length) return undefined;
    const v = values[slot - 1];
    const literal =
      v === null || v === undefined
        ? 'null'
        : typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))
          ? quote(String(v))
          : undefined;
    // Anything else (dates, buffers, objects, NUL characters) goes as a parameter, as before.
    if (literal === undefined) return undefined;
    out += literal + (template.parts[i + 1] as string);
  }
  return out;
}

/** A string literal that reads the same whatever `standard_conforming_strings` says (as pg's escapeLiteral). */
function quote(s: string): string | undefined {
  if (s.includes('\0')) return undefined;
  const body = s.replace(/'/g, "''");
  return s.includes('\\') ? ` E'${body.replace(/\\/g, '\\\\')}'` : `'${body}'`;
}

/** Runs one statement with parameters (as a named prepared statement where it can). */
export type RunStatement = (text: string, values: unknown[], inTransaction: boolean) => Promise<pg.QueryResult>;

const done = (command: string, rowCount: number | null = null): pg.QueryResult =>
  ({ command, rowCount, rows: [], fields: [], oid: 0 }) as unknown as pg.QueryResult;

/** The statement that runs several held writes, by their texts in order (a change sends the same few shapes again and again). */
interface Shape {
  next: Map<string, Shape>;
  combined?: Combined;
}
interface Combined {
  text: string;
  checks: boolean;
  /** The same writes, failing with division_by_zero (22012) when an order update changed no row. */
  raising: string;
}
const shapes: Shape = { next: new Map() };
let shapeCount = 0;
const MAX_SHAPES = 500;

/** One statement of data-modifying CTEs for `held`, its placeholders numbered in a row; `checks` when it answers update counts. */
function combined(held: readonly Held[]): Combined {
  let node = shapes;
  for (const h of held) {
    const key = h.expectOne ? LATER_ONE + h.text : h.text;
    let next = node.next.get(key);
    if (next === undefined) {
      next = { next: new Map() };
      if (shapeCount < MAX_SHAPES) {
        node.next.set(key, next);
        shapeCount++;
      }
    }
    node = next;
  }
  if (node.combined !== undefined) return node.combined;
  const parts: string[] = [];
  const checks: string[] = [];
  const raising: string[] = [];
  let offset = 0;
  held.forEach((h, i) => {
    const at = offset;
    const text = at === 0 ? h.text : h.text.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + at}`);
    parts.push(`w${i} as (${text}${h.expectOne ? ' returning 1' : ''})`);
    if (h.expectOne) {
      checks.push(`(select count(*) from w${i}) as c${i}`);
      raising.push(`1 / ((select count(*) from w${i}) = 1)::int as c${i}`);
    }
    offset += h.values.length;
  });
  node.combined = {
    text: `with ${parts.join(', ')} select ${checks.length > 0 ? checks.join(', ') : '1 as ok'}`,
    checks: checks.length > 0,
    raising: `with ${parts.join(', ')} select ${raising.length > 0 ? raising.join(', ') : '1 as ok'}`,
  };
  return node.combined;
}

/**
 * What a connection tells its store about the transactions it runs, so that statements that
 * should happen once some transaction commits can travel with the next COMMIT (postgres.ts uses
 * it for wake-up notifications).
 */
export interface TransactionHooks {
  /** A transaction began on this connection (its `begin` may still be held). */
  began(): void;
  /**
   * The transaction is about to commit: statements to send before `commit` in the same simple
   * query, and `done`, called once with whether that COMMIT went through (or undefined: nothing).
   */
  committing(): { text: string; done: (committed: boolean) => void } | undefined;
  /** The transaction is over (committed, rolled back, or its connection discarded). */
  ended(): void;
}

/**
 * One pooled connection that holds back writes and transaction control as described above.
 * `run` sends parameterised statements; `simple` sends a text of one or more statements
 * without parameters.
 */
export class ChangeConnection {
  private inTransaction = false;
  /** Transaction control statements not sent yet. */
  private control: string[] = [];
  private held: Held[] = [];
  private heldParameters = 0;
  /** The call before this one, settled: statements go out in the order they were asked for. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly run: RunStatement,
    private readonly simple: (text: string) => Promise<pg.QueryResult | pg.QueryResult[]>,
    private readonly hooks?: TransactionHooks,
    /**
     * The server's transaction status once the last query is over ('I' idle, 'T' in a transaction,
     * 'E' in a failed one). Given, a COMMIT carries the writes still held along with it.
     */
    private readonly status?: () => Promise<string | null>,
  ) {}

  private began(): void {
    if (this.inTransaction) return;
    this.inTransaction = true;
    this.hooks?.began();
  }

  private ended(): void {
    if (!this.inTransaction) return;
    this.inTransaction = false;
    this.hooks?.ended();
  }

  /** True when something is still held (the connection must not go back to the pool like that). */
  get holding(): boolean {
    return this.control.length > 0 || this.held.length > 0;
  }

  query(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
    const result = this.tail.then(() => this.step(text, values));
    this.tail = result.catch(() => undefined);
    return result;
  }

  private async step(text: string, values: unknown[]): Promise<pg.QueryResult> {
    if (text === FLUSH) {
      await this.sendHeld();
      return done('SELECT', 0);
    }
    const later = text.startsWith(LATER) ? LATER : text.startsWith(LATER_ONE) ? LATER_ONE : undefined;
    if (later !== undefined) {
      const statement = text.slice(later.length);
      if (!this.inTransaction) return this.sendNow(statement, values);
      return this.hold(statement, values, later === LATER_ONE);
    }
    if (values.length === 0) {
      if (ROLLBACK.test(text)) {
        // The transaction ends: what it held is dropped with it. If even its `begin` is still
        // held, the server never saw the transaction and there is nothing to send.
        const unsent = this.control.some((c) => BEGIN.test(c));
        this.dropHeld();
        this.control = [];
        try {
          return unsent ? done('ROLLBACK') : await this.run(text, [], false);
        } finally {
          this.ended();
        }
      }
      if (this.inTransaction && ROLLBACK_TO.test(text)) {
        // The change is undone: its held writes never need to run.
        this.dropHeld();
        this.control.push(text);
        return done('ROLLBACK');
      }
      if (COMMIT.test(text)) {
        if (!this.inTransaction) return this.sendControl(text);
        if (this.status && this.held.length > 0) {
          // A change's writes left for the COMMIT: with it in one simple query when they can be written out.
          const writes = this.inlineHeld();
          if (writes !== undefined) return this.commitWith(writes.text, writes.checks, text);
          try {
            await this.sendHeld();
          } catch (e) {
            // The COMMIT was not sent: the transaction is still open and the failure is the change's.
            throw new CommitWritesFailed(e);
          }
        }
        try {
          await this.sendHeld();
          return await this.commit(text);
        } finally {
          this.ended();
        }
      }
      const begin = BEGIN.test(text);
      if ((this.inTransaction || begin) && CONTROL.test(text)) {
        await this.sendHeld();
        if (begin) this.began();
        this.control.push(text);
        return done(/^\s*begin\b/i.test(text) ? 'BEGIN' : 'SET');
      }
    }
    return this.sendNow(text, values);
  }

  /** Forgets everything held (the connection is being discarded). */
  reset(): void {
    this.dropHeld();
    this.control = [];
    this.ended();
  }

  /** The held writes as one statement with its values written in, checking order updates itself; undefined if it cannot be. */
  private inlineHeld(): { text: string; checks: boolean } | undefined {
    const { raising, checks } = combined(this.held);
    const values: unknown[] = [];
    for (const h of this.held) for (const v of h.values) values.push(v);
    const text = inlined(raising, values);
    return text === undefined ? undefined : { text, checks };
  }

  /**
   * Sends the held control statements, the held writes, and `commit` as one simple query. If that
   * fails while the transaction is still open, the writes failed and the COMMIT never ran: the
   * error is the change's own ({@link CommitWritesFailed}), and the transaction goes on.
   */
  private async commitWith(writes: string, checks: boolean, text: string): Promise<pg.QueryResult> {
    this.dropHeld();
    const rider = this.hooks?.committing();
    const all = [...this.control, writes, ...(rider ? [rider.text] : []), text].join('; ');
    this.control = [];
    let committed = false;
    try {
      const r = await this.simple(all);
      const last = (Array.isArray(r) ? r[r.length - 1] : r) as pg.QueryResult;
      committed = last.command === 'COMMIT';
      this.ended();
      return last;
    } catch (e) {
      if ((await this.status?.().catch(() => null)) === 'E') {
        // division_by_zero comes from nothing but the order update checks.
        const check = checks && (e as { code?: string })?.code === '22012';
        throw new CommitWritesFailed(check ? new HeldUpdateMissed() : e);
      }
      this.ended();
      throw e;
    } finally {
      rider?.done(committed);
    }
  }

  /** Sends the held control statements and `commit`, with whatever the store asked to ride along. */
  private async commit(text: string): Promise<pg.QueryResult> {
    const rider = this.hooks?.committing();
    if (rider === undefined) return this.sendControl(text);
    let committed = false;
    try {
      this.control.push(rider.text);
      const r = await this.sendControl(text);
      // COMMIT of a transaction that had failed answers ROLLBACK: nothing in it took effect.
      committed = r.command === 'COMMIT';
      return r;
    } finally {
      rider.done(committed);
    }
  }

  private async sendNow(text: string, values: unknown[]): Promise<pg.QueryResult> {
    await this.sendHeld();
    // The first statement of a change (most often its locked read) travels with the savepoint before it.
    return this.withControl(text, values);
  }

  private async hold(text: string, values: unknown[], expectOne: boolean): Promise<pg.QueryResult> {
    const m = WRITE.exec(text);
    const table = (m?.[2] ?? '').replace(/"/g, '').toLowerCase();
    const update = /^update$/i.test(m?.[1] ?? '');
    const conflict = update && this.held.some((h) => h.table === table);
    if (
      conflict ||
      this.held.length >= MAX_HELD ||
      (this.held.length > 0 && this.heldParameters + values.length > MAX_PARAMETERS) ||
      m === null
    ) {
      await this.sendHeld();
    }
    if (m === null) return this.sendNow(text, values);
    this.held.push({ text, values, expectOne, table, update });
    this.heldParameters += values.length;
    return done(update ? 'UPDATE' : 'INSERT', expectOne ? 1 : 0);
  }

  private dropHeld(): void {
    this.held = [];
    this.heldParameters = 0;
  }

  /** Sends the held control statements, if any, as one simple query. */
  private async sendControlAlone(): Promise<void> {
    if (this.control.length === 0) return;
    const text = this.control.join('; ');
    this.control = [];
    await this.simple(text);
  }

  /** Sends the held control statements followed by `text` as one simple query; answers for `text`. */
  private async sendControl(text: string): Promise<pg.QueryResult> {
    const all = [...this.control, text].join('; ');
    this.control = [];
    const r = await this.simple(all);
    return Array.isArray(r) ? (r[r.length - 1] as pg.QueryResult) : r;
  }

  /** Sends the held writes as one statement (a CTE when there are several) and checks the order updates. */
  private async sendHeld(): Promise<void> {
    if (this.held.length === 0) return;
    const held = this.held;
    this.dropHeld();
    if (held.length === 1) {
      const h = held[0] as Held;
      const r = await this.withControl(h.text, h.values);
      if (h.expectOne && r.rowCount !== 1) throw new HeldUpdateMissed();
      return;
    }
    const { text, checks } = combined(held);
    const values: unknown[] = [];
    for (const h of held) for (const v of h.values) values.push(v);
    const r = await this.withControl(text, values);
    if (checks) {
      for (const count of Object.values((r.rows[0] ?? {}) as Record<string, unknown>)) {
        if (Number(count) !== 1) throw new HeldUpdateMissed();
      }
    }
  }

  /** Sends a statement after the held control statements: in one simple query when it can be written out. */
  private async withControl(text: string, values: unknown[]): Promise<pg.QueryResult> {
    if (this.control.length > 0) {
      const inline = inlined(text, values);
      if (inline !== undefined) return this.sendControl(inline);
      await this.sendControlAlone();
    }
    return this.run(text, values, this.inTransaction);
  }
}
