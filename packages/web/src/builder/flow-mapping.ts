/**
 * Pure mapping between a workflow definition and the builder's nodes and edges.
 *
 * Meaning lives in the definition only: a state's group and its order within
 * the group. Where a card is drawn lives in `definition.layout` only, which the
 * engine ignores. The builder keeps cards in tidy lanes: after every move the
 * positions are snapped to slots (see {@link snapLayout}).
 */

import type { Definition, Group, State, Transition, ValidationProblem } from '@orderflow/core';
import { GROUP_LABELS, GROUPS, isTerminalGroup } from '@orderflow/core';
import type { Edge, Node } from '@xyflow/react';

/** A validation problem as core and the API report it. */
export type Problem = ValidationProblem;

export type Severity = 'error' | 'warning' | null;

export const LANE_WIDTH = 240;
export const LANE_GAP = 110;
export const LANE_HEADER = 56;
export const NODE_WIDTH = 200;
export const NODE_HEIGHT = 64;
export const ROW_GAP = 88;
export const LANE_PAD_X = (LANE_WIDTH - NODE_WIDTH) / 2;
/** Node id of the "any non-terminal state" source used by `from: "*"`. */
export const ANY_NODE_ID = 'any';
/** Node id prefix of lane nodes; their handle is the source of `from: "group:<g>"`. */
export const LANE_PREFIX = 'lane:';

export interface StateNodeData extends Record<string, unknown> {
  state: State;
  /** Position within its group. */
  index: number;
  terminal: boolean;
  problems: Problem[];
  severity: Severity;
}

export interface LaneNodeData extends Record<string, unknown> {
  group: Group;
  label: string;
  count: number;
  terminal: boolean;
  height: number;
}

export interface AnyNodeData extends Record<string, unknown> {
  label: string;
}

export interface TransitionEdgeData extends Record<string, unknown> {
  transition: Transition;
  /** Set on the edge of a state's timeout, which is a move of its own, not a transition entry. */
  timeout?: { state: string; after: string };
  /** The transition's index; for a timeout edge, a slot after the transitions (it spreads parallel edges apart). */
  index: number;
  problems: Problem[];
  severity: Severity;
  /** The cards edges must not pass under (see {@link routeEdge}). */
  obstacles: Rect[];
  /**
   * The edge's track in the gaps between lanes: edges that leave the same state, or join the same two states in
   * either direction, get different tracks, so they run apart (see {@link spreadEdges}).
   */
  slot?: number;
  /**
   * For the second and later of several edges from one state to the same other state, how far (px) its crossing
   * of the gap between neighbouring lanes is shifted down, so it does not lie on the first one (see {@link routeEdge}).
   */
  shift?: number;
  /** Where along its route the label sits, chosen so that no two labels cover each other (see {@link spreadEdges}). */
  labelAt?: LabelAt;
}

export type StateNode = Node<StateNodeData, 'state'>;
export type LaneNode = Node<LaneNodeData, 'lane'>;
export type AnyNode = Node<AnyNodeData, 'any'>;
export type BuilderNode = StateNode | LaneNode | AnyNode;
export type TransitionEdge = Edge<TransitionEdgeData>;

/** Left edge of a group's lane. */
export const laneX = (group: Group): number => GROUPS.indexOf(group) * (LANE_WIDTH + LANE_GAP);

/** The slot of the `index`-th state of a lane. */
export const slotPosition = (group: Group, index: number): { x: number; y: number } => ({
  x: laneX(group) + LANE_PAD_X,
  y: LANE_HEADER + 16 + index * ROW_GAP,
});

/** The lane under a horizontal position (a card's centre); outside the lanes, the nearest one. */
export function laneAt(x: number): Group {
  const i = Math.floor(x / (LANE_WIDTH + LANE_GAP));
  return GROUPS[Math.max(0, Math.min(GROUPS.length - 1, i))] as Group;
}

/** Height of every lane: room for the fullest one plus an empty slot. */
export function laneHeight(definition: Pick<Definition, 'states'>): number {
  const max = Math.max(0, ...GROUPS.map((g) => definition.states.filter((s) => s.group === g).length));
  return Math.max(360, LANE_HEADER + 16 + (max + 1) * ROW_GAP);
}

/** Edge id of the transition at `index`. */
export const edgeId = (index: number): string => `t${index}`;

/** Edge id of a state's timeout. */
export const timeoutEdgeId = (stateKey: string): string => `timeout:${stateKey}`;

/** The state whose timeout an edge id names, or null for a transition's edge. */
export const timeoutEdgeState = (id: string): string | null => (id.startsWith('timeout:') ? id.slice('timeout:'.length) : null);

/** What a problem path points at: a state, a transition, a rule, or the workflow as a whole. */
export type ProblemTarget =
  | { type: 'state'; index: number; key: string | undefined }
  | { type: 'transition'; index: number }
  | { type: 'rule'; index: number }
  | { type: 'workflow' };

/** Resolves a dotted problem path (`states.3.name`, `transitions.5.to`, `rules.0.actions.1`). */
export function problemTarget(definition: Pick<Definition, 'states'>, path: string): ProblemTarget {
  const [head, index] = path.split('.');
  const i = Number(index);
  if (index !== undefined && Number.isInteger(i)) {
    if (head === 'states') return { type: 'state', index: i, key: definition.states[i]?.key };
    if (head === 'transitions') return { type: 'transition', index: i };
    if (head === 'rules') return { type: 'rule', index: i };
  }
  if (head === 'layout' && index !== undefined) {
    const s = definition.states.findIndex((x) => x.key === index);
    if (s >= 0) return { type: 'state', index: s, key: index };
  }
  return { type: 'workflow' };
}

const worst = (problems: Problem[]): Severity =>
  problems.some((p) => p.severity === 'error') ? 'error' : problems.length > 0 ? 'warning' : null;

function sourceOf(from: string): string {
  if (from === '*') return ANY_NODE_ID;
  if (from.startsWith('group:')) return `${LANE_PREFIX}${from.slice(6)}`;
  return from;
}

/** The inverse of the edge source mapping: a state key, `group:<g>` or `*`. */
export function fromOfSource(source: string): string {
  if (source === ANY_NODE_ID) return '*';
  if (source.startsWith(LANE_PREFIX)) return `group:${source.slice(LANE_PREFIX.length)}`;
  return source;
}

/**
 * Maps a definition and its problems to the builder's nodes (four lanes, one
 * card per state, and the "any state" source when a `*` transition exists) and
 * edges (one per transition, id `t<index>`). Card positions come from
 * `definition.layout`, kept inside the state's lane; a state without one gets
 * its slot.
 */
export function definitionToFlow(
  definition: Definition,
  problems: readonly Problem[] = [],
  selection: { node?: string | null; edge?: string | null } = {},
): { nodes: BuilderNode[]; edges: TransitionEdge[] } {
  const stateProblems = new Map<string, Problem[]>();
  const transitionProblems = new Map<number, Problem[]>();
  for (const p of problems) {
    const t = problemTarget(definition, p.path);
    if (t.type === 'state' && t.key !== undefined) stateProblems.set(t.key, [...(stateProblems.get(t.key) ?? []), p]);
    if (t.type === 'transition') transitionProblems.set(t.index, [...(transitionProblems.get(t.index) ?? []), p]);
  }

  const height = laneHeight(definition);
  const nodes: BuilderNode[] = GROUPS.map(
    (group): LaneNode => ({
      id: `${LANE_PREFIX}${group}`,
      type: 'lane',
      position: { x: laneX(group), y: 0 },
      data: {
        group,
        label: GROUP_LABELS[group],
        count: definition.states.filter((s) => s.group === group).length,
        terminal: isTerminalGroup(group),
        height,
      },
      draggable: false,
      selectable: false,
      focusable: false,
      zIndex: 0,
      style: { width: LANE_WIDTH, height },
    }),
  );
  if (definition.transitions.some((t) => t.from === '*')) {
    nodes.push({
      id: ANY_NODE_ID,
      type: 'any',
      position: { x: laneX('new') + LANE_PAD_X, y: -90 },
      data: { label: 'Any non-terminal state' },
      draggable: false,
      selectable: false,
      zIndex: 1,
    });
  }

  const indexInGroup = new Map<Group, number>();
  for (const state of definition.states) {
    const index = indexInGroup.get(state.group) ?? 0;
    indexInGroup.set(state.group, index + 1);
    const slot = slotPosition(state.group, index);
    const stored = definition.layout?.[state.key];
    const left = laneX(state.group);
    const position = stored
      ? { x: Math.min(Math.max(stored.x, left), left + LANE_WIDTH - NODE_WIDTH), y: Math.max(stored.y, LANE_HEADER) }
      : slot;
    const own = stateProblems.get(state.key) ?? [];
    nodes.push({
      id: state.key,
      type: 'state',
      position,
      data: { state, index, terminal: isTerminalGroup(state.group), problems: own, severity: worst(own) },
      selected: selection.node === state.key,
      zIndex: 2,
      width: NODE_WIDTH,
      height: NODE_HEIGHT,
    });
  }

  const nameOf = (key: string) => definition.states.find((s) => s.key === key)?.name ?? key;
  const fromName = (from: string) =>
    from === '*'
      ? 'any non-terminal state'
      : from.startsWith('group:')
        ? `every ${GROUP_LABELS[from.slice(6) as Group] ?? from.slice(6)} state`
        : nameOf(from);
  const obstacles: Rect[] = nodes
    .filter((n) => n.type === 'state')
    .map((n) => ({ x: n.position.x, y: n.position.y, width: NODE_WIDTH, height: NODE_HEIGHT }));
  const edges: TransitionEdge[] = definition.transitions.map((transition, index) => {
    const own = transitionProblems.get(index) ?? [];
    const severity = worst(own);
    const id = edgeId(index);
    return {
      id,
      source: sourceOf(transition.from),
      target: transition.to,
      label: transition.name,
      ariaLabel: `Transition: ${fromName(transition.from)} → ${nameOf(transition.to)}${transition.name ? ` (${transition.name})` : ''}`,
      data: { transition, index, problems: own, severity, obstacles },
      selected: selection.edge === id,
      className: severity ? `edge-${severity}` : undefined,
      zIndex: 1,
    };
  });
  // A timeout is a move of its own (it needs no transition entry): drawn dashed, from the state to its target.
  definition.states.forEach((state, i) => {
    const target = definition.states.find((s) => s.key === state.timeout?.to);
    // A timeout without a known target is reported by validation on the state; there is nothing to draw yet.
    if (!state.timeout || !target) return;
    const own = (stateProblems.get(state.key) ?? []).filter((p) => p.path.startsWith(`states.${i}.timeout`));
    const severity = worst(own);
    edges.push({
      id: timeoutEdgeId(state.key),
      source: state.key,
      target: state.timeout.to,
      label: `after ${state.timeout.after}`,
      ariaLabel: `Timeout: ${state.name} → ${target.name} after ${state.timeout.after}`,
      data: {
        transition: { from: state.key, to: state.timeout.to },
        timeout: { state: state.key, after: state.timeout.after },
        index: definition.transitions.length + i,
        problems: own,
        severity,
        obstacles,
      },
      selected: selection.edge === timeoutEdgeId(state.key),
      className: `edge-timeout${severity ? ` edge-${severity}` : ''}`,
      zIndex: 1,
    });
  });
  spreadEdges(nodes, edges);
  return { nodes, edges };
}

/** A point on a route: segment `segment` (0 = the one leaving the source), at fraction `t` of its length. */
export interface LabelAt {
  segment: number;
  t: number;
}

/** Height of an edge label on the canvas (12 px text, padding and border), and the widest it gets. */
export const LABEL_HEIGHT = 20;
export const LABEL_MAX_WIDTH = 96;

/** The box an edge label takes, centred on `at`: its width estimated from the text (12 px, ellipsis past the maximum). */
export function labelBox(text: string, at: { x: number; y: number }): Rect {
  const width = Math.min(LABEL_MAX_WIDTH, 12 + text.length * 6.8);
  return { x: at.x - width / 2, y: at.y - LABEL_HEIGHT / 2, width, height: LABEL_HEIGHT };
}

/** How much two boxes cover each other, each grown by `margin` on every side (0 when they do not touch). */
function overlapArea(a: Rect, b: Rect, margin = 0): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x) + 2 * margin;
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y) + 2 * margin;
  return w > 0 && h > 0 ? w * h : 0;
}

/**
 * Where the canvas puts an edge's ends, from the cards' positions: a state's
 * handles sit on the middle of its right (out) and left (in) sides, a lane's
 * on the right of its header.
 */
export function handlePoint(node: BuilderNode, side: 'source' | 'target'): { x: number; y: number } {
  const HANDLE = 10;
  if (node.type === 'lane') return { x: node.position.x + LANE_WIDTH + HANDLE, y: LANE_HEADER / 2 };
  if (side === 'target') return { x: node.position.x - HANDLE, y: node.position.y + NODE_HEIGHT / 2 };
  return { x: node.position.x + NODE_WIDTH + HANDLE, y: node.position.y + NODE_HEIGHT / 2 };
}

/** Spots along a route to try for its label: the middle of each vertical run (longest first), then further along them, then the horizontal runs. */
const SPOTS = [0.5, ...Array.from({ length: 38 }, (_, i) => 0.5 + (i % 2 ? 1 : -1) * 0.025 * Math.ceil((i + 1) / 2))];
function labelCandidates(points: readonly { x: number; y: number }[]): LabelAt[] {
  const segments = points.slice(1).map((b, i) => {
    const a = points[i] as { x: number; y: number };
    return { i, vertical: a.x === b.x, length: Math.abs(b.x - a.x) + Math.abs(b.y - a.y) };
  });
  const vertical = segments.filter((s) => s.vertical && s.length > 0).sort((a, b) => b.length - a.length);
  const horizontal = segments.filter((s) => !s.vertical && s.length > 0).sort((a, b) => b.length - a.length);
  const out: LabelAt[] = [];
  for (const t of SPOTS) for (const s of vertical) out.push({ segment: s.i, t });
  for (const t of SPOTS) for (const s of horizontal) out.push({ segment: s.i, t });
  return out;
}

/** The point of a route at `at`, or null when the route has no such segment. */
export function pointAlong(points: readonly { x: number; y: number }[], at: LabelAt): { x: number; y: number } | null {
  const a = points[at.segment];
  const b = points[at.segment + 1];
  if (!a || !b) return null;
  return { x: a.x + (b.x - a.x) * at.t, y: a.y + (b.y - a.y) * at.t };
}

/**
 * Keeps edges and their labels apart. Each edge gets a track: the lowest one
 * not taken by an edge leaving the same state or joining the same two states
 * (in either direction), so parallel and opposite edges run side by side
 * rather than on one line. Then each label, in order, takes the first spot
 * along its own route whose box covers no card and no label placed before it;
 * when every spot is taken, the middle of its longest vertical run.
 */
export function spreadEdges(nodes: readonly BuilderNode[], edges: TransitionEdge[]): void {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const taken = new Map<string, Set<number>>();
  const use = (key: string) => {
    const set = taken.get(key) ?? new Set<number>();
    taken.set(key, set);
    return set;
  };
  const parallel = new Map<string, number>();
  for (const edge of edges) {
    if (!edge.data) continue;
    const same = `${edge.source}->${edge.target}`;
    const rank = parallel.get(same) ?? 0;
    parallel.set(same, rank + 1);
    if (rank > 0) edge.data.shift = rank * (LABEL_HEIGHT + 10);
    const pair = `pair:${[edge.source, edge.target].sort().join('|')}`;
    const from = use(`from:${edge.source}`);
    const between = use(pair);
    let slot = 0;
    while ((from.has(slot) || between.has(slot)) && slot < TRACKS - 1) slot++;
    from.add(slot);
    between.add(slot);
    edge.data.slot = slot;
  }

  const placed: Rect[] = [];
  // A label keeps off the cards and off their round handles, which stick out on both sides.
  const cards = nodes
    .filter((n) => n.type === 'state')
    .map((n) => ({ x: n.position.x - 12, y: n.position.y, width: NODE_WIDTH + 24, height: NODE_HEIGHT }));
  for (const edge of edges) {
    const source = byId.get(edge.source);
    const target = byId.get(edge.target);
    if (!edge.data || !source || !target || typeof edge.label !== 'string' || !edge.label) continue;
    const text = edge.data.timeout ? `⏱ ${edge.label}` : edge.label;
    const { points } = routeEdge(
      handlePoint(source, 'source'),
      handlePoint(target, 'target'),
      edge.data.obstacles,
      edge.data.slot ?? 0,
      undefined,
      edge.data.shift,
    );
    // The first free spot; when none is free, the spot that covers the least of other labels and cards.
    let best: { at: LabelAt; box: Rect; covered: number } | null = null;
    for (const at of labelCandidates(points)) {
      const p = pointAlong(points, at);
      if (!p) continue;
      const box = labelBox(text, p);
      const covered = [...placed, ...cards].reduce((sum, r) => sum + overlapArea(r, box, 2), 0);
      if (!best || covered < best.covered) best = { at, box, covered };
      if (covered === 0) break;
    }
    if (!best) continue;
    edge.data.labelAt = best.at;
    placed.push(best.box);
  }
}

/** A position of a card as the canvas reports it. */
export interface PositionedNode {
  id: string;
  type?: string | undefined;
  position: { x: number; y: number };
}

/** An edge as the canvas reports it; `data.transition` carries the fields the canvas does not show. */
export interface FlowEdge {
  source: string;
  target: string;
  data?: { transition?: Transition; timeout?: unknown } | undefined;
}

function moveGroupFields(state: State, group: Group): State {
  if (state.group === group) return state;
  const next: State = { ...state, group };
  // Defaults that only mean something in one group would silently linger otherwise.
  if (group !== 'cancelled') delete next.cancellation;
  if (group !== 'completed') delete next.requires;
  return next;
}

/**
 * Maps the canvas back onto the definition: each card's lane (by its centre)
 * becomes the state's group, its height the order within the group, and its
 * position the layout; edges become the transitions, keeping the fields the
 * canvas does not show (name, guard, roles). Everything else is kept as is.
 */
export function flowToDefinition(definition: Definition, nodes: readonly PositionedNode[], edges?: readonly FlowEdge[]): Definition {
  const positions = new Map<string, { x: number; y: number }>();
  for (const n of nodes) if (n.type === undefined || n.type === 'state') positions.set(n.id, n.position);

  const placed = definition.states.map((state, i) => {
    const pos = positions.get(state.key);
    const group = pos ? laneAt(pos.x + NODE_WIDTH / 2) : state.group;
    return { state: moveGroupFields(state, group), i, y: pos?.y ?? slotPosition(state.group, i).y };
  });
  const states: State[] = [];
  for (const group of GROUPS) {
    const inGroup = placed.filter((p) => p.state.group === group);
    inGroup.sort((a, b) => a.y - b.y || a.i - b.i);
    states.push(...inGroup.map((p) => p.state));
  }

  const layout: NonNullable<Definition['layout']> = {};
  for (const state of states) {
    const pos = positions.get(state.key) ?? definition.layout?.[state.key];
    if (pos) layout[state.key] = { x: Math.round(pos.x), y: Math.round(pos.y) };
  }

  const transitions: Transition[] = edges
    ? edges
        // Timeout edges stand for the state's timeout, not for a transition.
        .filter((e) => !e.data?.timeout)
        .map((e) => ({ ...(e.data?.transition ?? {}), from: fromOfSource(e.source), to: e.target }))
    : definition.transitions;
  return { ...definition, states, transitions, layout };
}

/** Rewrites the layout so that every card sits in its lane's slot, in order. */
export function snapLayout(definition: Definition): Definition {
  const layout: NonNullable<Definition['layout']> = {};
  const count = new Map<Group, number>();
  for (const state of definition.states) {
    const i = count.get(state.group) ?? 0;
    count.set(state.group, i + 1);
    layout[state.key] = slotPosition(state.group, i);
  }
  return { ...definition, layout };
}

/** A card's box on the canvas. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Keep this far from a card when passing it. */
const CLEARANCE = 6;
/** Vertical tracks in a gap between lanes, one per edge slot, so parallel edges stay apart. */
const TRACKS = 6;
const TRACK_STEP = 8;

const laneIndexAt = (x: number): number => Math.max(0, Math.min(GROUPS.length - 1, Math.floor(x / (LANE_WIDTH + LANE_GAP))));

/** A horizontal line free of cards in every lane from `fromLane` to `toLane`, as near to `near` as possible. */
function freeChannel(obstacles: readonly Rect[], fromLane: number, toLane: number, near: number, slot: number): number {
  const lo = Math.min(fromLane, toLane);
  const hi = Math.max(fromLane, toLane);
  const blocked = obstacles
    .filter((r) => {
      const i = laneIndexAt(r.x + r.width / 2);
      return i >= lo && i <= hi;
    })
    .map((r) => [r.y - CLEARANCE, r.y + r.height + CLEARANCE] as const)
    .sort((a, b) => a[0] - b[0]);
  // Free bands: between blocked spans, and below the lowest one.
  const bands: [number, number][] = [];
  let top = LANE_HEADER;
  for (const [a, b] of blocked) {
    if (a > top) bands.push([top, a]);
    top = Math.max(top, b);
  }
  const jitter = ((slot % 3) - 1) * 4;
  // Below every card there is always room; each slot gets its own line there.
  let best = top + 10 + (slot % TRACKS) * TRACK_STEP;
  let bestDistance = Math.abs(best - near);
  for (const [a, b] of bands) {
    if (b - a < 6) continue;
    const y = Math.min(Math.max((a + b) / 2 + jitter, a + 2), b - 2);
    const d = Math.abs(y - near);
    if (d < bestDistance) {
      bestDistance = d;
      best = y;
    }
  }
  return best;
}

/**
 * An orthogonal route from a source handle to a target handle that never
 * passes under a card: vertical runs only in the gaps between lanes, and
 * horizontal runs across lanes only along a line free of cards.
 */
export function routeEdge(
  source: { x: number; y: number },
  target: { x: number; y: number },
  obstacles: readonly Rect[],
  slot: number,
  labelAt?: LabelAt,
  shift = 0,
) {
  const from = laneIndexAt(source.x - 1);
  const to = laneIndexAt(target.x + 1);
  const track = (slot % TRACKS) * TRACK_STEP;
  // Leave to the right of the source lane, arrive from the left of the target lane.
  const out = from * (LANE_WIDTH + LANE_GAP) + LANE_WIDTH + 12 + track;
  const inn = to * (LANE_WIDTH + LANE_GAP) - 12 - track;
  let points: { x: number; y: number }[];
  if (to === from + 1 && shift !== 0) {
    // A second edge between the same two cards: down from the first one's line, across the gap, back up to the card.
    const x = Math.max(out, source.x + 8);
    const back = Math.max(inn, x + 16);
    const y = Math.max(source.y, target.y) + shift;
    points = [source, { x, y: source.y }, { x, y }, { x: back, y }, { x: back, y: target.y }, target];
  } else if (to === from + 1) {
    const x = Math.max(out, source.x + 8);
    points = [source, { x, y: source.y }, { x, y: target.y }, target];
  } else {
    const y = freeChannel(obstacles, to > from ? from + 1 : to, to > from ? to - 1 : from, (source.y + target.y) / 2, slot);
    const x1 = Math.max(out, source.x + 8);
    points = [source, { x: x1, y: source.y }, { x: x1, y }, { x: inn, y }, { x: inn, y: target.y }, target];
  }
  const segments = points.slice(1).map((p, i) => ({ a: points[i] as { x: number; y: number }, b: p }));
  // Unless told where (see spreadEdges), the label sits on the longest vertical run, which lies in a gap between lanes.
  const vertical = segments.filter((s) => s.a.x === s.b.x).sort((s1, s2) => Math.abs(s2.b.y - s2.a.y) - Math.abs(s1.b.y - s1.a.y))[0];
  const middle = vertical ? { x: vertical.a.x, y: (vertical.a.y + vertical.b.y) / 2 } : { x: (source.x + target.x) / 2, y: source.y };
  const label = (labelAt && pointAlong(points, labelAt)) ?? middle;
  const path = points.map((p, i) => `${i === 0 ? 'M' : 'L'} ${Math.round(p.x * 10) / 10} ${Math.round(p.y * 10) / 10}`).join(' ');
  return { path, points, label };
}
