import type { WorkflowSummary } from '@orderflow/client';
import { api } from '../lib/api';
import { useResource } from '../lib/use-resource';

/** The list of workflows, loaded once per mount. */
export function useWorkflows() {
  return useResource(() => api.listWorkflows().then((r) => r.items), []);
}

export function WorkflowPicker({
  workflows,
  value,
  onChange,
  allowAll,
  testId = 'workflow-picker',
}: {
  workflows: WorkflowSummary[];
  value: string;
  onChange: (key: string) => void;
  allowAll?: boolean;
  testId?: string;
}) {
  return (
    <label className="inline">
      Workflow
      <select value={value} onChange={(e) => onChange(e.target.value)} data-testid={testId}>
        {allowAll && <option value="">All workflows</option>}
        {workflows.map((w) => (
          <option key={w.key} value={w.key}>
            {w.name} ({w.key})
          </option>
        ))}
      </select>
    </label>
  );
}
