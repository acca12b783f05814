import type { Workflow } from '@orderflow/client';
import type { Definition, Group, State, Transition } from '@orderflow/core';
import { validateDefinition } from '@orderflow/core';
import {
  applyNodeChanges,
  Background,
  type Connection,
  Controls,
  type Edge,
  type EdgeMouseHandler,
  MarkerType,
  MiniMap,
  type NodeChange,
  type NodeMouseHandler,
  ReactFlow,
  ReactFlowProvider,
} from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { useCallback, useEffect, useMemo, useState } from 'react';
import * as edits from '../builder/edits';
import {
  type BuilderNode,
  definitionToFlow,
  edgeId,
  flowToDefinition,
  fromOfSource,
  type Problem,
  snapLayout,
  timeoutEdgeState,
} from '../builder/flow-mapping';
import { canRedo, canUndo, createHistory, type History, historyKey, push, redo, reset, undo } from '../builder/history';
import { LaneNavigator, READABLE_ZOOM } from '../builder/lane-navigator';
import { BuilderActionsContext, edgeTypes, nodeTypes } from '../builder/nodes';
import { PublishDialog } from '../builder/publish-dialog';
import { type Selection, SidePanel } from '../builder/side-panel';
import { TableView } from '../builder/table-view';
import { Dialog, ErrorBox, Loading, PageHeader, useToast } from '../components/common';
import { api, errorText } from '../lib/api';
import { Link, useLeaveGuard, withQuery } from '../lib/router';
import { useAbilities } from '../lib/session';

interface ValidationContext {
  templates?: string[];
  endpoints?: string[];
  workflows?: string[];
}

/** Loads what the validator needs to know besides the definition; unknown lists skip those checks. */
function useValidationContext(workflowKey: string): ValidationContext {
  const [ctx, setCtx] = useState<ValidationContext>({});
  useEffect(() => {
    let live = true;
    Promise.allSettled([api.listTemplates(), api.listEndpoints(), api.listWorkflows()]).then(([t, e, w]) => {
      if (!live) return;
      const next: ValidationContext = {};
      if (t.status === 'fulfilled') next.templates = t.value.items.map((x) => x.key);
      if (e.status === 'fulfilled') next.endpoints = e.value.items.map((x) => x.key);
      if (w.status === 'fulfilled') next.workflows = w.value.items.map((x) => x.key).filter((k) => k !== workflowKey);
      setCtx(next);
    });
    return () => {
      live = false;
    };
  }, [workflowKey]);
  return ctx;
}

/** The overview map draws lanes as pale bands and each state in its colour. */
const minimapColor = (node: BuilderNode): string => {
  if (node.type === 'lane') return node.data.terminal ? '#eef0f3' : '#e8f0fe';
  if (node.type === 'state') return node.data.state.color ?? '#94a3b8';
  return '#c4b5fd';
};

/** From this many states on, the canvas offers the table view. */
const LARGE_WORKFLOW = 20;

const isTyping = (el: EventTarget | null) =>
  el instanceof HTMLElement && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT' || el.isContentEditable);

export function BuilderPage({ workflowKey }: { workflowKey: string }) {
  const [workflow, setWorkflow] = useState<Workflow | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const load = useCallback(() => {
    setError(undefined);
    api.getWorkflow(workflowKey).then(setWorkflow, setError);
  }, [workflowKey]);
  useEffect(load, [load]);
  if (error) return <ErrorBox error={error} onRetry={load} />;
  if (!workflow) return <Loading />;
  const start = workflow.draft ?? workflow.definition;
  if (!start) return <ErrorBox error={new Error('This workflow has neither a draft nor a published version.')} />;
  return (
    <ReactFlowProvider>
      <Builder workflow={workflow} start={start} onWorkflow={setWorkflow} />
    </ReactFlowProvider>
  );
}

function Builder({ workflow, start, onWorkflow }: { workflow: Workflow; start: Definition; onWorkflow: (w: Workflow) => void }) {
  const can = useAbilities();
  const editable = can.design;
  const toast = useToast();
  const [history, setHistory] = useState<History<Definition>>(() => createHistory(start));
  const [savedJson, setSavedJson] = useState(() => JSON.stringify(start));
  const [selection, setSelection] = useState<Selection>(null);
  const [view, setView] = useState<'canvas' | 'table'>(() =>
    new URLSearchParams(window.location.search).get('view') === 'table' ? 'table' : 'canvas',
  );
  const [deleting, setDeleting] = useState<{ state: State; live: number } | null>(null);
  const [publishing, setPublishing] = useState(false);
  const [saving, setSaving] = useState(false);
  const validationContext = useValidationContext(workflow.key);
  const definition = history.present;
  const dirty = JSON.stringify(definition) !== savedJson;
  // Keys that exist on the server; a state not among them is new, and its key follows its name.
  const knownKeys = useMemo(
    () => new Set([...(workflow.definition?.states ?? []), ...(JSON.parse(savedJson) as Definition).states].map((s) => s.key)),
    [workflow.definition, savedJson],
  );

  const validation = useMemo(() => validateDefinition(definition, validationContext), [definition, validationContext]);
  const problems = validation.problems as Problem[];
  const errorCount = problems.filter((p) => p.severity === 'error').length;

  const commit = useCallback((next: Definition, coalesceKey?: string) => {
    setHistory((h) => (JSON.stringify(next) === JSON.stringify(h.present) ? h : push(h, next, coalesceKey)));
  }, []);

  // Canvas nodes: derived from the definition, with positions moving locally while a card is dragged.
  const selectionIds = useMemo(
    () => ({
      node: selection?.type === 'state' ? selection.key : null,
      edge: selection?.type === 'transition' ? edgeId(selection.index) : null,
    }),
    [selection],
  );
  const flow = useMemo(() => definitionToFlow(definition, problems, selectionIds), [definition, problems, selectionIds]);
  const [nodes, setNodes] = useState<BuilderNode[]>(flow.nodes);
  useEffect(() => {
    setNodes((prev) => {
      const measured = new Map(prev.map((n) => [n.id, n.measured]));
      return flow.nodes.map((n) => ({ ...n, measured: measured.get(n.id) ?? n.measured }) as BuilderNode);
    });
  }, [flow.nodes]);
  const edges = useMemo(
    () =>
      flow.edges.map((e) => ({
        ...e,
        markerEnd: { type: MarkerType.ArrowClosed, width: 18, height: 18 },
        type: 'routed',
        focusable: true,
        data: e.data,
      })),
    [flow.edges],
  );

  const onNodesChange = useCallback((changes: NodeChange<BuilderNode>[]) => {
    setNodes((nds) =>
      applyNodeChanges(
        changes.filter((c) => c.type !== 'select' && c.type !== 'remove'),
        nds,
      ),
    );
  }, []);

  // Moving a state out of Cancelled would drop its default reason: ask first.
  const [droppingReason, setDroppingReason] = useState<{ next: Definition; states: State[] } | null>(null);
  const commitMove = useCallback(
    (next: Definition) => {
      const losing = definition.states.filter((s) => s.cancellation && next.states.some((n) => n.key === s.key && n.group !== 'cancelled'));
      if (losing.length > 0) setDroppingReason({ next, states: losing });
      else commit(next);
    },
    [definition, commit],
  );

  const onNodeDragStop = useCallback(
    (_: unknown, node: BuilderNode) => {
      if (node.type !== 'state') return;
      const positioned = nodes.map((n) => (n.id === node.id ? { ...n, position: node.position } : n));
      const next = snapLayout(flowToDefinition(definition, positioned));
      if (JSON.stringify(next) === JSON.stringify(definition)) setNodes(flow.nodes);
      else {
        setNodes(flow.nodes);
        commitMove(next);
      }
    },
    [nodes, definition, flow.nodes, commitMove],
  );

  const isValidConnection = useCallback(
    (c: Connection | Edge) => {
      if (!editable || !c.source || !c.target || c.source === c.target) return false;
      if (!definition.states.some((s) => s.key === c.target)) return false;
      const { definition: candidate, index } = edits.addTransition(definition, fromOfSource(c.source), c.target);
      if (candidate === definition) return false;
      // Core decides: refuse an edge the validator reports an error on.
      const prefix = `transitions.${index}`;
      return !validateDefinition(candidate, validationContext).problems.some(
        (p) => p.severity === 'error' && (p.path === prefix || p.path.startsWith(`${prefix}.`)),
      );
    },
    [definition, editable, validationContext],
  );

  const onConnect = useCallback(
    (c: Connection) => {
      if (!c.source || !c.target) return;
      const { definition: next, index } = edits.addTransition(definition, fromOfSource(c.source), c.target);
      commit(next);
      setSelection({ type: 'transition', index });
    },
    [definition, commit],
  );

  const onNodeClick: NodeMouseHandler<BuilderNode> = useCallback((_, node) => {
    if (node.type === 'state') setSelection({ type: 'state', key: node.id });
  }, []);
  const onEdgeClick: EdgeMouseHandler = useCallback((_, edge) => {
    // A timeout is edited on its state.
    const timedOut = timeoutEdgeState(edge.id);
    if (timedOut) {
      setSelection({ type: 'state', key: timedOut });
      return;
    }
    const index = Number(edge.id.slice(1));
    if (Number.isInteger(index)) setSelection({ type: 'transition', index });
  }, []);

  const removeTransition = useCallback(
    (index: number) => {
      commit(edits.removeTransition(definition, index));
      setSelection(null);
    },
    [definition, commit],
  );

  const doUndo = useCallback(() => setHistory((h) => undo(h)), []);
  const doRedo = useCallback(() => setHistory((h) => redo(h)), []);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (isTyping(e.target)) return;
      const cmd = historyKey(e);
      if (cmd && editable) {
        e.preventDefault();
        if (cmd === 'undo') doUndo();
        else doRedo();
        return;
      }
      if ((e.key === 'Delete' || e.key === 'Backspace') && editable && selection?.type === 'transition') {
        e.preventDefault();
        removeTransition(selection.index);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [editable, selection, doUndo, doRedo, removeTransition]);

  useLeaveGuard(editable && dirty);

  // Selections that no longer exist (after undo, delete) are dropped.
  useEffect(() => {
    if (selection?.type === 'state' && !definition.states.some((s) => s.key === selection.key)) setSelection(null);
    if (selection?.type === 'transition' && !definition.transitions[selection.index]) setSelection(null);
  }, [definition, selection]);

  const addState = useCallback(
    (group: Group) => {
      const { definition: next, key } = edits.addState(definition, group, 'New state');
      commit(snapLayout(next));
      setSelection({ type: 'state', key });
      setTimeout(() => {
        const input = document.querySelector<HTMLInputElement>('[data-testid="state-name"]');
        input?.focus();
        input?.select();
      }, 0);
    },
    [definition, commit],
  );

  const updateState = useCallback(
    (key: string, patch: Partial<State>, coalesceKey?: string) => {
      let next = edits.updateState(definition, key, patch);
      let newKey = key;
      if (patch.name !== undefined && !knownKeys.has(key)) {
        const base = edits.slugify(patch.name);
        newKey = base === key ? key : edits.uniqueKey({ ...next, states: next.states.filter((s) => s.key !== key) }, base);
        next = edits.renameStateKey(next, key, newKey);
      }
      commit(next, coalesceKey);
      if (newKey !== key) setSelection({ type: 'state', key: newKey });
    },
    [definition, commit, knownKeys],
  );

  const save = async (): Promise<Workflow | null> => {
    setSaving(true);
    try {
      const w = await api.saveDraft(workflow.key, definition);
      setSavedJson(JSON.stringify(definition));
      onWorkflowKeepingState(w);
      toast('Draft saved', 'success');
      return w;
    } catch (err) {
      toast(errorText(err), 'error');
      return null;
    } finally {
      setSaving(false);
    }
  };
  const onWorkflowKeepingState = (w: Workflow) => onWorkflow({ ...w, draft: w.draft ?? definition });

  const publish = async () => {
    if (dirty && !(await save())) return;
    try {
      const w = await api.publishWorkflow(workflow.key);
      toast(`Published version ${w.publishedVersion ?? ''}`, 'success');
      setPublishing(false);
      const current = w.draft ?? w.definition ?? definition;
      setSavedJson(JSON.stringify(current));
      setHistory((h) => reset(h, current));
      onWorkflow(w);
    } catch (err) {
      toast(errorText(err), 'error');
    }
  };

  const panelProps = {
    definition,
    problems,
    selection,
    editable,
    onSelect: setSelection,
    onEdit: commit,
    updateState,
    renameKey: (from: string, to: string) => {
      if (!to || to === from) return;
      commit(edits.renameStateKey(definition, from, to));
      setSelection({ type: 'state', key: to });
    },
    setInitial: (key: string) => commit(edits.setInitial(definition, key)),
    removeState: async (key: string) => {
      const state = definition.states.find((s) => s.key === key);
      // Orders live in the published version's states; deleting one that holds orders deserves a second thought.
      const live = workflow.definition?.states.some((s) => s.key === key)
        ? await api.listOrders({ workflow: workflow.key, state: key, limit: 100 }).then(
            (r) => r.items.length,
            () => 0,
          )
        : 0;
      if (live > 0 && state) setDeleting({ state, live });
      else {
        commit(edits.removeState(definition, key));
        setSelection(null);
      }
    },
    updateTransition: (index: number, patch: Partial<Transition>, coalesceKey?: string) =>
      commit(edits.updateTransition(definition, index, patch), coalesceKey),
    removeTransition,
  };

  const actions = useMemo(() => ({ editable, addState }), [editable, addState]);

  return (
    <div className="page builder-page">
      <PageHeader
        title={
          <>
            {definition.name}{' '}
            <span className="muted small mono" data-testid="builder-workflow-key">
              {workflow.key}
            </span>
          </>
        }
        subtitle={
          <>
            {workflow.publishedVersion ? `Published version ${workflow.publishedVersion}` : 'Never published'} ·{' '}
            <Link to={`/workflows/${encodeURIComponent(workflow.key)}/rules`} data-testid="open-rules">
              Rules ({definition.rules?.length ?? 0})
            </Link>{' '}
            · <Link to={withQuery('/board', { workflow: workflow.key })}>Board</Link> ·{' '}
            <Link to={`/workflows/${encodeURIComponent(workflow.key)}/versions`} data-testid="open-versions">
              Versions
            </Link>
          </>
        }
      >
        <div className="segmented" role="tablist">
          <button type="button" className={view === 'canvas' ? 'on' : ''} onClick={() => setView('canvas')} data-testid="view-canvas">
            Canvas
          </button>
          <button type="button" className={view === 'table' ? 'on' : ''} onClick={() => setView('table')} data-testid="view-table">
            Table
          </button>
        </div>
        {editable && (
          <>
            <button type="button" onClick={doUndo} disabled={!canUndo(history)} data-testid="undo" title="Undo (Ctrl+Z)">
              ↶ Undo
            </button>
            <button type="button" onClick={doRedo} disabled={!canRedo(history)} data-testid="redo" title="Redo (Ctrl+Shift+Z)">
              ↷ Redo
            </button>
            <span className={`save-state ${dirty ? 'dirty' : 'clean'}`} data-testid="dirty-indicator" data-dirty={dirty ? 'true' : 'false'}>
              {dirty ? '● Unsaved changes' : 'All changes saved'}
            </span>
            <button type="button" onClick={save} disabled={saving || !dirty} data-testid="save-draft">
              {saving ? 'Saving…' : 'Save draft'}
            </button>
            <button
              type="button"
              className="primary"
              disabled={saving}
              onClick={async () => {
                // The impact summary is computed from the stored draft: store it first.
                if (dirty && !(await save())) return;
                setPublishing(true);
              }}
              data-testid="publish"
            >
              Publish…
            </button>
          </>
        )}
      </PageHeader>
      <div className="problem-summary" data-testid="problem-summary" data-errors={errorCount}>
        {problems.length === 0 ? (
          <span className="ok">✓ No problems</span>
        ) : (
          <button type="button" className="link" onClick={() => setSelection(null)}>
            <span className={errorCount ? 'error-text' : 'warn-text'}>
              {errorCount} error{errorCount === 1 ? '' : 's'}, {problems.length - errorCount} warning
              {problems.length - errorCount === 1 ? '' : 's'}
            </span>{' '}
            — {problems[0]?.message}
          </button>
        )}
      </div>
      <div className="builder">
        <div className="builder-main">
          {view === 'canvas' && definition.states.length >= LARGE_WORKFLOW && (
            <div className="banner banner-info large-offer" role="status">
              {definition.states.length} states: the table view lists them all, readable at any size.{' '}
              <button type="button" className="primary small" onClick={() => setView('table')}>
                Switch to the table view
              </button>
            </div>
          )}
          {view === 'canvas' ? (
            <BuilderActionsContext.Provider value={actions}>
              <LaneNavigator definition={definition} />
              <div className="canvas" data-testid="builder-canvas">
                <ReactFlow<BuilderNode>
                  nodes={nodes}
                  edges={edges}
                  nodeTypes={nodeTypes}
                  edgeTypes={edgeTypes}
                  onNodesChange={onNodesChange}
                  onNodeDragStop={onNodeDragStop}
                  onConnect={onConnect}
                  isValidConnection={isValidConnection}
                  onNodeClick={onNodeClick}
                  onEdgeClick={onEdgeClick}
                  onPaneClick={() => setSelection(null)}
                  nodesDraggable={editable}
                  nodesConnectable={editable}
                  elementsSelectable
                  deleteKeyCode={null}
                  connectionRadius={36}
                  // Opens at full size, text readable (≥ 12 px), from the first lane; the lane buttons and the overview reach the rest.
                  defaultViewport={{ x: 24, y: 16, zoom: READABLE_ZOOM }}
                  // Never smaller than readable, "fit view" included.
                  minZoom={READABLE_ZOOM}
                  proOptions={{ hideAttribution: true }}
                >
                  <Background gap={24} size={1} />
                  <Controls showInteractive={false} fitViewOptions={{ minZoom: READABLE_ZOOM, padding: 0.04 }} />
                  <MiniMap
                    pannable
                    ariaLabel="Overview of the workflow: drag to move the view"
                    nodeColor={minimapColor}
                    nodeStrokeWidth={0}
                    className="builder-minimap"
                  />
                </ReactFlow>
              </div>
            </BuilderActionsContext.Provider>
          ) : (
            <TableView
              definition={definition}
              problems={problems}
              editable={editable}
              selection={selection}
              onSelect={setSelection}
              moveState={(key, group, index) => commitMove(snapLayout(edits.moveState(definition, key, group, index)))}
              addTransition={(from, to) => commit(edits.addTransition(definition, from, to).definition)}
              removeTransition={removeTransition}
            />
          )}
        </div>
        <aside className="side-panel" data-testid="side-panel">
          <SidePanel {...panelProps} />
        </aside>
      </div>
      {droppingReason && (
        <Dialog
          title="Default cancellation reason"
          onClose={() => setDroppingReason(null)}
          testId="drop-reason-dialog"
          footer={
            <>
              <button type="button" className="primary" onClick={() => setDroppingReason(null)}>
                Keep it in Cancelled
              </button>
              <button
                type="button"
                className="danger"
                onClick={() => {
                  commit(droppingReason.next);
                  setDroppingReason(null);
                }}
              >
                Move and drop the reason
              </button>
            </>
          }
        >
          {droppingReason.states.map((s) => (
            <p key={s.key}>
              <strong>{s.name}</strong> has a default cancellation reason:{' '}
              <strong>
                {s.cancellation?.initiator} · {s.cancellation?.code.replaceAll('_', ' ')}
              </strong>
              . Only cancelled states can have one, so moving it out of Cancelled drops the reason.
            </p>
          ))}
        </Dialog>
      )}
      {deleting && (
        <Dialog
          title={`Delete ${deleting.state.name}?`}
          onClose={() => setDeleting(null)}
          testId="delete-state-dialog"
          footer={
            <>
              <button type="button" className="primary" onClick={() => setDeleting(null)}>
                Keep the state
              </button>
              <button
                type="button"
                className="danger"
                onClick={() => {
                  commit(edits.removeState(definition, deleting.state.key));
                  setSelection(null);
                  setDeleting(null);
                }}
              >
                Delete the state
              </button>
            </>
          }
        >
          <p>
            {deleting.live >= 100 ? '100 or more' : deleting.live} live order{deleting.live === 1 ? ' is' : 's are'} in{' '}
            {deleting.state.name}. Once this version is published, they stay on the current version until they are migrated, and a migration
            must map {deleting.state.name} to another state.
          </p>
        </Dialog>
      )}
      {publishing && (
        <PublishDialog
          workflowKey={workflow.key}
          published={workflow.definition}
          publishedVersion={workflow.publishedVersion}
          draft={definition}
          problems={problems}
          onClose={() => setPublishing(false)}
          onPublish={publish}
        />
      )}
    </div>
  );
}
