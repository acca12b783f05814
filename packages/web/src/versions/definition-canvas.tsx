import type { Definition } from '@orderflow/core';
import { Background, Controls, MarkerType, MiniMap, ReactFlow, ReactFlowProvider } from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { useMemo } from 'react';
import { type BuilderNode, definitionToFlow } from '../builder/flow-mapping';
import { LaneNavigator, READABLE_ZOOM } from '../builder/lane-navigator';
import { BuilderActionsContext, edgeTypes, nodeTypes } from '../builder/nodes';

const READ_ONLY = { editable: false, addState: () => {} };

/**
 * A definition drawn on the builder's canvas, read-only: nothing can be moved,
 * connected or edited. Drawn as the builder draws it: readable at its zoom,
 * edges around the cards, timeouts dashed, every lane one button away.
 */
export function DefinitionCanvas({ definition, testId }: { definition: Definition; testId?: string }) {
  const flow = useMemo(() => definitionToFlow(definition), [definition]);
  const edges = useMemo(
    () => flow.edges.map((e) => ({ ...e, type: 'routed', markerEnd: { type: MarkerType.ArrowClosed, width: 18, height: 18 } })),
    [flow.edges],
  );
  return (
    <ReactFlowProvider>
      <BuilderActionsContext.Provider value={READ_ONLY}>
        <LaneNavigator definition={definition} />
        <div className="canvas read-only" data-testid={testId ?? 'version-canvas'}>
          <ReactFlow<BuilderNode>
            nodes={flow.nodes}
            edges={edges}
            nodeTypes={nodeTypes}
            edgeTypes={edgeTypes}
            nodesDraggable={false}
            nodesConnectable={false}
            elementsSelectable={false}
            deleteKeyCode={null}
            defaultViewport={{ x: 24, y: 16, zoom: READABLE_ZOOM }}
            minZoom={READABLE_ZOOM}
            proOptions={{ hideAttribution: true }}
          >
            <Background gap={24} size={1} />
            <Controls showInteractive={false} fitViewOptions={{ minZoom: READABLE_ZOOM, padding: 0.04 }} />
            <MiniMap pannable ariaLabel="Overview of the workflow: drag to move the view" nodeStrokeWidth={0} className="builder-minimap" />
          </ReactFlow>
        </div>
      </BuilderActionsContext.Provider>
    </ReactFlowProvider>
  );
}
