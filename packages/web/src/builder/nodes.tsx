import type { Group } from '@orderflow/core';
import {
  BaseEdge,
  EdgeLabelRenderer,
  type EdgeProps,
  type EdgeTypes,
  Handle,
  type NodeProps,
  type NodeTypes,
  Position,
} from '@xyflow/react';
import { createContext, memo, useContext } from 'react';
import { type AnyNode, type LaneNode, routeEdge, type StateNode, type TransitionEdge } from './flow-mapping';

/**
 * A clock, drawn inline: the ⏱ character has no glyph without an emoji font
 * (Debian's Chromium shows an empty box), an SVG looks the same everywhere.
 */
export function ClockIcon({ label = 'Timeout' }: { label?: string }) {
  return (
    <svg className="icon" viewBox="0 0 16 16" width="1em" height="1em" role="img" aria-label={label}>
      <circle cx="8" cy="9" r="6" fill="none" stroke="currentColor" strokeWidth="1.6" />
      <path d="M8 5.5V9l2.4 1.6M6 1.5h4" fill="none" stroke="currentColor" strokeWidth="1.6" strokeLinecap="round" />
    </svg>
  );
}

/** Callbacks the canvas nodes need; provided by the builder page. */
export interface BuilderActions {
  editable: boolean;
  addState: (group: Group) => void;
}
export const BuilderActionsContext = createContext<BuilderActions>({ editable: false, addState: () => {} });

const StateNodeView = memo(function StateNodeView({ data, selected }: NodeProps<StateNode>) {
  const { editable } = useContext(BuilderActionsContext);
  const { state, terminal, severity, problems } = data;
  return (
    <div
      className={`state-node${selected ? ' selected' : ''}${severity ? ` has-${severity}` : ''}`}
      data-testid={`state-node-${state.key}`}
      title={problems.map((p) => p.message).join('\n') || undefined}
    >
      <Handle
        type="target"
        position={Position.Left}
        className="handle handle-target"
        isConnectable={editable}
        data-testid={`handle-target-${state.key}`}
      />
      <span className="stripe" style={{ background: state.color ?? '#94a3b8' }} />
      <div className="state-body">
        <div className="state-name">{state.name}</div>
        <div className="state-meta">
          <span className="mono">{state.key}</span>
          {state.initial && <span className="tag">initial</span>}
          {state.timeout && (
            <span className="tag" title={`Times out after ${state.timeout.after} → ${state.timeout.to}`}>
              <ClockIcon /> {state.timeout.after}
            </span>
          )}
          {state.requires?.length ? <span className="tag">requires {state.requires.length}</span> : null}
        </div>
      </div>
      {severity && (
        <span className={`problem-dot ${severity}`} data-testid={`state-problem-${state.key}`} title={`${problems.length} problem(s)`}>
          {severity === 'error' ? '!' : '?'}
        </span>
      )}
      {/* Terminal states get no visible handle, but keep an anchor so wrong edges out of them still show, in red. */}
      <Handle
        type="source"
        position={Position.Right}
        className={terminal ? 'handle handle-anchor' : 'handle handle-source'}
        isConnectable={editable && !terminal}
        data-testid={terminal ? undefined : `handle-source-${state.key}`}
      />
    </div>
  );
});

const LaneNodeView = memo(function LaneNodeView({ data }: NodeProps<LaneNode>) {
  const { editable, addState } = useContext(BuilderActionsContext);
  return (
    <div className={`lane lane-${data.group}`} style={{ height: data.height }} data-testid={`lane-${data.group}`}>
      <div className="lane-header">
        <span className="lane-title">{data.label}</span>
        <span className="lane-count">{data.count}</span>
        {data.terminal && <span className="lane-terminal">terminal</span>}
        {editable && (
          <button
            type="button"
            className="lane-add nodrag"
            onClick={() => addState(data.group)}
            data-testid={`add-state-${data.group}`}
            title={`Add a state to ${data.label}`}
          >
            + Add
          </button>
        )}
        {!data.terminal && (
          <Handle
            type="source"
            position={Position.Right}
            className="handle handle-group"
            isConnectable={editable}
            title={`Drag to draw a transition from every ${data.label} state`}
            data-testid={`handle-group-${data.group}`}
          />
        )}
      </div>
    </div>
  );
});

const AnyNodeView = memo(function AnyNodeView({ data }: NodeProps<AnyNode>) {
  return (
    <div className="any-node" data-testid="any-node">
      {data.label}
      <Handle type="source" position={Position.Right} className="handle handle-source" isConnectable={false} />
    </div>
  );
});

/** Node renderers, at module scope so the canvas never re-mounts them. */
export const nodeTypes: NodeTypes = { state: StateNodeView, lane: LaneNodeView, any: AnyNodeView };

/** A transition, or a state's timeout (dashed), drawn around the cards, never under one (see routeEdge). */
const RoutedEdge = memo(function RoutedEdge({
  id,
  sourceX,
  sourceY,
  targetX,
  targetY,
  markerEnd,
  style,
  label,
  data,
  interactionWidth,
}: EdgeProps<TransitionEdge>) {
  const route = routeEdge(
    { x: sourceX, y: sourceY },
    { x: targetX, y: targetY },
    data?.obstacles ?? [],
    data?.slot ?? data?.index ?? 0,
    data?.labelAt,
    data?.shift,
  );
  return (
    <>
      <BaseEdge id={id} path={route.path} markerEnd={markerEnd} style={style} interactionWidth={interactionWidth ?? 16} />
      {label ? (
        <EdgeLabelRenderer>
          <div
            className={`edge-label${data?.timeout ? ' edge-label-timeout' : ''}`}
            style={{ transform: `translate(-50%, -50%) translate(${route.label.x}px, ${route.label.y}px)` }}
            title={String(label)}
          >
            {data?.timeout ? (
              <>
                <ClockIcon /> {label}
              </>
            ) : (
              label
            )}
          </div>
        </EdgeLabelRenderer>
      ) : null}
    </>
  );
});

/** Edge renderers, at module scope like the node renderers. */
export const edgeTypes: EdgeTypes = { routed: RoutedEdge };
