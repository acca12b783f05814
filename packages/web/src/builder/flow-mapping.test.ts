import type { Definition } from '@orderflow/core';
import { DEMO_ORDERS, DEMO_WORKFLOWS } from '@orderflow/core';
import { describe, expect, it } from 'vitest';
import {
  ANY_NODE_ID,
  definitionToFlow,
  edgeId,
  flowToDefinition,
  handlePoint,
  LANE_HEADER,
  LANE_PAD_X,
  LANE_WIDTH,
  labelBox,
  laneAt,
  laneX,
  NODE_WIDTH,
  type Problem,
  problemTarget,
  type Rect,
  ROW_GAP,
  routeEdge,
  type StateNode,
  slotPosition,
  snapLayout,
  timeoutEdgeId,
  timeoutEdgeState,
} from './flow-mapping.js';

const small: Definition = {
  key: 'small',
  name: 'Small',
  states: [
    { key: 'created', name: 'Created', group: 'new', initial: true },
    { key: 'packing', name: 'Packing', group: 'processing' },
    { key: 'shipping', name: 'Shipping', group: 'processing' },
    { key: 'cancelled', name: 'Cancelled', group: 'cancelled', cancellation: { initiator: 'customer', code: 'customer_request' } },
    { key: 'done', name: 'Done', group: 'completed', requires: ['delivered'] },
  ],
  transitions: [
    { from: 'created', to: 'packing', name: 'Start' },
    { from: 'packing', to: 'shipping', guard: { path: 'order.data.total', op: 'gt', value: 0 }, roles: ['operator'] },
    { from: 'shipping', to: 'done' },
    { from: 'group:processing', to: 'cancelled' },
    { from: '*', to: 'cancelled' },
  ],
  layout: { packing: { x: laneX('processing') + 10, y: 200 } },
};

const stateNodes = (nodes: ReturnType<typeof definitionToFlow>['nodes']) => nodes.filter((n): n is StateNode => n.type === 'state');

describe('definitionToFlow', () => {
  it('makes four lanes, one card per state and one edge per transition', () => {
    const { nodes, edges } = definitionToFlow(small);
    expect(nodes.filter((n) => n.type === 'lane').map((n) => n.id)).toEqual([
      'lane:new',
      'lane:processing',
      'lane:cancelled',
      'lane:completed',
    ]);
    expect(stateNodes(nodes).map((n) => n.id)).toEqual(['created', 'packing', 'shipping', 'cancelled', 'done']);
    expect(edges.map((e) => [e.id, e.source, e.target])).toEqual([
      ['t0', 'created', 'packing'],
      ['t1', 'packing', 'shipping'],
      ['t2', 'shipping', 'done'],
      ['t3', 'lane:processing', 'cancelled'],
      ['t4', ANY_NODE_ID, 'cancelled'],
    ]);
    expect(edges[0]?.label).toBe('Start');
    expect(nodes.some((n) => n.id === ANY_NODE_ID)).toBe(true);
  });

  it('draws each state timeout as a dashed edge of its own, which never turns into a transition', () => {
    const timed: Definition = {
      ...small,
      states: small.states.map((s) => (s.key === 'packing' ? { ...s, timeout: { after: '48h', to: 'cancelled' } } : s)),
    };
    const { nodes, edges } = definitionToFlow(timed);
    const timeout = edges.find((e) => e.id === timeoutEdgeId('packing'));
    expect(timeout).toMatchObject({
      source: 'packing',
      target: 'cancelled',
      label: 'after 48h',
      ariaLabel: 'Timeout: Packing → Cancelled after 48h',
      className: 'edge-timeout',
    });
    expect(timeoutEdgeState(timeout?.id ?? '')).toBe('packing');
    expect(timeoutEdgeState(edgeId(0))).toBeNull();
    // Transition edges stay solid.
    expect(edges.filter((e) => e.className?.includes('edge-timeout'))).toHaveLength(1);
    // Mapping the canvas back keeps the timeout on the state and adds no transition.
    expect(flowToDefinition(timed, nodes, edges)).toEqual(flowToDefinition(timed, nodes));
    // A timeout whose target does not exist (yet) draws nothing.
    const dangling = { ...timed, states: timed.states.map((s) => (s.key === 'packing' ? { ...s, timeout: { after: '1h', to: '' } } : s)) };
    expect(definitionToFlow(dangling).edges.some((e) => e.id.startsWith('timeout:'))).toBe(false);
  });

  it('omits the "any state" source when no transition starts from *', () => {
    const { nodes } = definitionToFlow({ ...small, transitions: [] });
    expect(nodes.some((n) => n.id === ANY_NODE_ID)).toBe(false);
  });

  it('marks terminal states and their lanes', () => {
    const { nodes } = definitionToFlow(small);
    const terminal = Object.fromEntries(stateNodes(nodes).map((n) => [n.id, n.data.terminal]));
    expect(terminal).toEqual({ created: false, packing: false, shipping: false, cancelled: true, done: true });
    const lanes = nodes.filter((n) => n.type === 'lane').map((n) => [n.id, n.data.terminal]);
    expect(lanes).toEqual([
      ['lane:new', false],
      ['lane:processing', false],
      ['lane:cancelled', true],
      ['lane:completed', true],
    ]);
  });

  it('takes positions from the layout, else from the lane slot', () => {
    const { nodes } = definitionToFlow(small);
    const pos = Object.fromEntries(stateNodes(nodes).map((n) => [n.id, n.position]));
    expect(pos.packing).toEqual({ x: laneX('processing') + 10, y: 200 });
    expect(pos.shipping).toEqual(slotPosition('processing', 1));
    expect(pos.done).toEqual(slotPosition('completed', 0));
  });

  it('keeps a stored position inside the state’s lane', () => {
    const { nodes } = definitionToFlow({ ...small, layout: { created: { x: 5000, y: -40 } } });
    const created = stateNodes(nodes).find((n) => n.id === 'created');
    expect(laneAt((created?.position.x ?? 0) + 100)).toBe('new');
    expect(created?.position.y).toBe(LANE_HEADER);
  });

  it('highlights the state and the edge a problem path points at, with the worst severity', () => {
    const problems: Problem[] = [
      { severity: 'warning', code: 'unreachable_state', path: 'states.2', message: 'unreachable' },
      { severity: 'error', code: 'terminal_outgoing', path: 'transitions.1.from', message: 'terminal' },
      { severity: 'warning', code: 'x', path: 'states.2.name', message: 'second' },
      { severity: 'error', code: 'y', path: 'states.4.requires.0', message: 'unknown criterion' },
    ];
    const { nodes, edges } = definitionToFlow(small, problems);
    const byId = Object.fromEntries(stateNodes(nodes).map((n) => [n.id, n.data]));
    expect(byId.shipping?.severity).toBe('warning');
    expect(byId.shipping?.problems).toHaveLength(2);
    expect(byId.done?.severity).toBe('error');
    expect(byId.packing?.severity).toBeNull();
    expect(edges[1]?.data?.severity).toBe('error');
    expect(edges[1]?.className).toBe('edge-error');
    expect(edges[0]?.data?.severity).toBeNull();
  });

  it('marks the selected node and edge', () => {
    const { nodes, edges } = definitionToFlow(small, [], { node: 'packing', edge: 't2' });
    expect(nodes.find((n) => n.id === 'packing')?.selected).toBe(true);
    expect(nodes.find((n) => n.id === 'shipping')?.selected).toBe(false);
    expect(edges.find((e) => e.id === 't2')?.selected).toBe(true);
  });
});

describe('problemTarget', () => {
  it('resolves states, transitions, rules and the rest', () => {
    expect(problemTarget(small, 'states.1.name')).toEqual({ type: 'state', index: 1, key: 'packing' });
    expect(problemTarget(small, 'transitions.5.to')).toEqual({ type: 'transition', index: 5 });
    expect(problemTarget(small, 'rules.0.actions.1')).toEqual({ type: 'rule', index: 0 });
    expect(problemTarget(small, 'layout.done')).toEqual({ type: 'state', index: 4, key: 'done' });
    expect(problemTarget(small, 'states')).toEqual({ type: 'workflow' });
    expect(problemTarget(small, '')).toEqual({ type: 'workflow' });
  });
});

describe('flowToDefinition', () => {
  it('gives back the same meaning for an untouched canvas', () => {
    const { nodes, edges } = definitionToFlow(DEMO_ORDERS);
    const back = flowToDefinition(DEMO_ORDERS, nodes, edges);
    expect(back.transitions).toEqual(DEMO_ORDERS.transitions);
    expect(back.states).toEqual(DEMO_ORDERS.states);
    expect(back.rules).toEqual(DEMO_ORDERS.rules);
    expect(Object.keys(back.layout ?? {})).toHaveLength(DEMO_ORDERS.states.length);
  });

  it('round-trips group and wildcard sources, names, guards and roles', () => {
    const { nodes, edges } = definitionToFlow(small);
    expect(flowToDefinition(small, nodes, edges).transitions).toEqual(small.transitions);
  });

  it('reorders a lane by height', () => {
    const { nodes } = definitionToFlow(small);
    const moved = nodes.map((n) => (n.id === 'shipping' ? { ...n, position: { x: laneX('processing') + 30, y: 10 } } : n));
    const back = flowToDefinition(small, moved);
    expect(back.states.filter((s) => s.group === 'processing').map((s) => s.key)).toEqual(['shipping', 'packing']);
    expect(back.layout?.shipping).toEqual({ x: laneX('processing') + 30, y: 10 });
  });

  it('moves a state to the lane its card is dropped on, dropping defaults that only apply to the old lane', () => {
    const { nodes } = definitionToFlow(small);
    const moved = nodes.map((n) => {
      if (n.id === 'cancelled') return { ...n, position: { x: laneX('processing') + 30, y: 500 } };
      if (n.id === 'shipping') return { ...n, position: { x: laneX('cancelled') + 30, y: 0 } };
      return n;
    });
    const back = flowToDefinition(small, moved);
    expect(back.states.map((s) => [s.key, s.group])).toEqual([
      ['created', 'new'],
      ['packing', 'processing'],
      ['cancelled', 'processing'],
      ['shipping', 'cancelled'],
      ['done', 'completed'],
    ]);
    expect(back.states.find((s) => s.key === 'cancelled')?.cancellation).toBeUndefined();
    expect(back.states.find((s) => s.key === 'done')?.requires).toEqual(['delivered']);
  });

  it('maps new edges to transitions and removed edges away', () => {
    const { edges } = definitionToFlow(small);
    const next = [...edges.filter((e) => e.id !== 't2'), { source: 'created', target: 'cancelled' }];
    const back = flowToDefinition(small, [], next);
    expect(back.transitions.map((t) => `${t.from}>${t.to}`)).toEqual([
      'created>packing',
      'packing>shipping',
      'group:processing>cancelled',
      '*>cancelled',
      'created>cancelled',
    ]);
  });

  it('does not touch rules, reasons or anything else', () => {
    const back = flowToDefinition(DEMO_ORDERS, []);
    expect({ ...back, layout: undefined, states: undefined }).toEqual({ ...DEMO_ORDERS, layout: undefined, states: undefined });
  });
});

describe('snapLayout', () => {
  it('puts every card in its lane slot in order', () => {
    const snapped = snapLayout(small);
    expect(snapped.layout?.packing).toEqual(slotPosition('processing', 0));
    expect(snapped.layout?.shipping).toEqual({ x: laneX('processing') + LANE_PAD_X, y: LANE_HEADER + 16 + ROW_GAP });
    expect(snapped.states).toBe(small.states);
  });
});

describe('routeEdge', () => {
  /** Where the canvas puts a transition's ends: a card's right handle, the lane handle, or the "any state" card. */
  function ends(flow: ReturnType<typeof definitionToFlow>, source: string, target: string) {
    const node = (id: string) => flow.nodes.find((n) => n.id === id);
    const s = node(source);
    const t = node(target);
    if (!s || !t) throw new Error(`no node ${source} or ${target}`);
    const from =
      s.type === 'lane' ? { x: s.position.x + LANE_WIDTH, y: s.position.y + 24 } : { x: s.position.x + NODE_WIDTH, y: s.position.y + 32 };
    return { from, to: { x: t.position.x, y: t.position.y + 32 } };
  }

  /** Whether a segment passes through the inside of a rectangle (its border excluded). */
  function crosses(a: { x: number; y: number }, b: { x: number; y: number }, r: Rect): boolean {
    for (let i = 0; i <= 100; i++) {
      const x = a.x + ((b.x - a.x) * i) / 100;
      const y = a.y + ((b.y - a.y) * i) / 100;
      if (x > r.x + 1 && x < r.x + r.width - 1 && y > r.y + 1 && y < r.y + r.height - 1) return true;
    }
    return false;
  }

  it('never passes under a card, for every transition of every demo workflow', () => {
    for (const definition of DEMO_WORKFLOWS) {
      const flow = definitionToFlow(snapLayout(definition));
      for (const edge of flow.edges) {
        const obstacles = edge.data?.obstacles ?? [];
        expect(obstacles.length).toBe(definition.states.length);
        const { from, to } = ends(flow, edge.source, edge.target);
        const route = routeEdge(from, to, obstacles, edge.data?.slot ?? edge.data?.index ?? 0, edge.data?.labelAt, edge.data?.shift);
        for (let i = 1; i < route.points.length; i++) {
          const a = route.points[i - 1] as { x: number; y: number };
          const b = route.points[i] as { x: number; y: number };
          expect(a.x === b.x || a.y === b.y, 'orthogonal').toBe(true);
          for (const r of obstacles) expect(crosses(a, b, r), `${definition.key} ${edge.source} → ${edge.target}`).toBe(false);
        }
        expect(route.path.startsWith(`M ${from.x} ${from.y}`)).toBe(true);
      }
    }
  });

  it('crosses the gap between neighbouring lanes with one vertical run', () => {
    const route = routeEdge({ x: 220, y: 100 }, { x: 370, y: 300 }, [], 0);
    expect(route.points).toHaveLength(4);
    expect(route.points[1]?.x).toBe(route.points[2]?.x);
  });
});

describe('edge labels', () => {
  /** Each edge's label box as the canvas draws it: on the edge's route, at the spot and on the track the mapping chose. */
  function labelBoxes(definition: Definition) {
    const flow = definitionToFlow(snapLayout(definition));
    const node = (id: string) => {
      const n = flow.nodes.find((x) => x.id === id);
      if (!n) throw new Error(`no node ${id}`);
      return n;
    };
    return flow.edges.map((edge) => {
      const d = edge.data;
      const route = routeEdge(
        handlePoint(node(edge.source), 'source'),
        handlePoint(node(edge.target), 'target'),
        d?.obstacles ?? [],
        d?.slot ?? d?.index ?? 0,
        d?.labelAt,
        d?.shift,
      );
      return { edge, route, box: labelBox(d?.timeout ? `⏱ ${edge.label}` : String(edge.label), route.label) };
    });
  }
  const overlap = (a: Rect, b: Rect) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
  const describeBox = (l: { edge: { source: string; target: string; label?: unknown } }) =>
    `${l.edge.source} → ${l.edge.target} "${l.edge.label}"`;

  const backAndForth: Definition = {
    key: 'back_and_forth',
    name: 'Back and forth',
    states: [
      { key: 'created', name: 'Created', group: 'new', initial: true },
      { key: 'shipping', name: 'Shipping', group: 'processing' },
      { key: 'delayed', name: 'Delayed', group: 'processing' },
      { key: 'lost', name: 'Lost', group: 'processing' },
      { key: 'done', name: 'Done', group: 'completed' },
    ],
    transitions: [
      { from: 'created', to: 'shipping', name: 'Ship' },
      { from: 'shipping', to: 'delayed', name: 'Report delay' },
      { from: 'shipping', to: 'lost', name: 'Report lost' },
      { from: 'shipping', to: 'done', name: 'Deliver' },
      { from: 'delayed', to: 'shipping', name: 'Back on track' },
      { from: 'delayed', to: 'lost', name: 'Report lost' },
      { from: 'lost', to: 'shipping', name: 'Found' },
    ],
  };

  it('runs two opposite edges between the same states on tracks of their own, with labels apart', () => {
    const labels = labelBoxes(backAndForth);
    const there = labels.find((l) => l.edge.source === 'shipping' && l.edge.target === 'delayed');
    const back = labels.find((l) => l.edge.source === 'delayed' && l.edge.target === 'shipping');
    if (!there || !back) throw new Error('missing edge');
    expect(there.edge.data?.slot).not.toBe(back.edge.data?.slot);
    expect(overlap(there.box, back.box), `${JSON.stringify(there.box)} and ${JSON.stringify(back.box)}`).toBe(false);
  });

  it('gives the edges that leave one state different tracks', () => {
    const slots = labelBoxes(backAndForth)
      .filter((l) => l.edge.source === 'shipping')
      .map((l) => l.edge.data?.slot);
    expect(new Set(slots).size).toBe(slots.length);
  });

  it('draws a second edge between the same two states (a timeout beside a transition) apart from the first', () => {
    const definition: Definition = {
      key: 'pay',
      name: 'Pay',
      states: [
        { key: 'waiting', name: 'Waiting', group: 'processing', initial: true, timeout: { after: '48h', to: 'timed_out' } },
        { key: 'timed_out', name: 'Timed out', group: 'cancelled', cancellation: { initiator: 'customer', code: 'payment_timeout' } },
      ],
      transitions: [{ from: 'waiting', to: 'timed_out', name: 'Payment timed out' }],
    };
    const [first, second] = labelBoxes(definition);
    if (!first || !second) throw new Error('missing edge');
    expect(second.edge.id).toBe(timeoutEdgeId('waiting'));
    expect(second.route.path).not.toBe(first.route.path);
    expect(overlap(first.box, second.box)).toBe(false);
  });

  it('puts no label over another, for every demo workflow', () => {
    for (const definition of DEMO_WORKFLOWS) {
      const labels = labelBoxes(definition).filter((l) => l.edge.label);
      const found: string[] = [];
      labels.forEach((a, i) => {
        for (const b of labels.slice(i + 1)) if (overlap(a.box, b.box)) found.push(`${describeBox(a)} × ${describeBox(b)}`);
      });
      expect(found, definition.key).toEqual([]);
    }
  });
});
