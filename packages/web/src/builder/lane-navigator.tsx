import type { Definition, Group } from '@orderflow/core';
import { GROUP_LABELS, GROUPS } from '@orderflow/core';
import { useReactFlow, useStore } from '@xyflow/react';
import { LANE_WIDTH, laneX } from './flow-mapping';

/**
 * The smallest zoom at which every canvas text stays readable: the smallest
 * text on the canvas is 12 px, and nothing may be drawn smaller. Fit view and
 * zooming out stop here; the lane buttons and the overview map reach the rest.
 */
export const READABLE_ZOOM = 1;
/** Room kept left of the first lane and right of the last. */
const MARGIN = 24;

/** Where the canvas must sit (its x offset) to bring a lane into view at `zoom`: centred, without scrolling past either end. */
export function laneViewportX(group: Group, zoom: number, canvasWidth: number): number {
  const centre = laneX(group) + LANE_WIDTH / 2;
  const total = laneX(GROUPS[GROUPS.length - 1] as Group) + LANE_WIDTH;
  const x = canvasWidth / 2 - centre * zoom;
  const leftmost = MARGIN;
  const rightmost = Math.min(MARGIN, canvasWidth - MARGIN - total * zoom);
  return Math.max(rightmost, Math.min(leftmost, x));
}

/**
 * One button per lane, above the canvas: it brings that lane into view at a
 * readable zoom, and shows which lanes are in view now and how many states each
 * holds. The four lanes rarely fit side by side at a readable size.
 */
export function LaneNavigator({ definition }: { definition: Pick<Definition, 'states'> }) {
  const { setViewport } = useReactFlow();
  const x = useStore((s) => s.transform[0]);
  const y = useStore((s) => s.transform[1]);
  const zoom = useStore((s) => s.transform[2]);
  const width = useStore((s) => s.width);
  return (
    <div className="lane-nav" role="toolbar" aria-label="Lanes">
      <span className="muted small">Show lane</span>
      {GROUPS.map((group) => {
        const left = laneX(group) * zoom + x;
        const right = (laneX(group) + LANE_WIDTH) * zoom + x;
        const inView = width > 0 && left >= -1 && right <= width + 1;
        const count = definition.states.filter((s) => s.group === group).length;
        return (
          <button
            key={group}
            type="button"
            className={`small${inView ? ' in-view' : ''}`}
            title={inView ? `${GROUP_LABELS[group]} is in view` : `Bring ${GROUP_LABELS[group]} into view`}
            onClick={() => {
              const z = Math.max(zoom, READABLE_ZOOM);
              // No animation: a smooth pan zooms out on the way, below readable.
              void setViewport({ x: laneViewportX(group, z, width), y, zoom: z });
            }}
            data-testid={`show-lane-${group}`}
          >
            {GROUP_LABELS[group]} <span className="lane-nav-count">{count}</span>
          </button>
        );
      })}
    </div>
  );
}
