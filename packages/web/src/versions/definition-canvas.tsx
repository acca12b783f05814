import type { Definition } from '@orderflow/core';
import { Background, Controls, ReactFlow, ReactFlowProvider } from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { useMemo } from 'react';
import { type BuilderNode, definitionToFlow } from '../builder/flow-mapping';
import { BuilderActionsContext, nodeTypes } from '../builder/nodes';

const READ_ONLY = { editable: false, addState: () => {} };

/** A definition drawn on the builder's canvas, read-only: nothing can be moved, connected or edited. */
export function DefinitionCanvas({ definition, testId }: { definition: Definition; testId?: string }) {
  const flow = useMemo(() => definitionToFlow(definition), [definition]);
  return (
    <ReactFlowProvider>
      <BuilderActionsContext.Provider value={READ_ONLY}>
        <div className="canvas read-only" data-testid={testId ?? 'version-canvas'}>
          <ReactFlow<BuilderNode>
            nodes={flow.nodes}
            edges={flow.edges}
            nodeTypes={nodeTypes}
            nodesDraggable={false}
            nodesConnectable={false}
            elementsSelectable={false}
            deleteKeyCode={null}
            fitView
            fitViewOptions={{ padding: 0.08 }}
            minZoom={0.2}
            proOptions={{ hideAttribution: true }}
          >
            <Background gap={24} size={1} />
            <Controls showInteractive={false} />
          </ReactFlow>
        </div>
      </BuilderActionsContext.Provider>
    </ReactFlowProvider>
  );
}
