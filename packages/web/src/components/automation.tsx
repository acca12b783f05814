import type { AutomationState } from '@orderflow/client';
import { useEffect, useState } from 'react';
import { api, errorText } from '../lib/api';
import { useAbilities } from '../lib/session';
import { useToast } from './common';

const EVENT = 'orderflow:automation';

/** The automation kill switch's state, kept current across screens. */
export function useAutomation(): [AutomationState | null, (s: AutomationState) => void] {
  const [state, setState] = useState<AutomationState | null>(null);
  useEffect(() => {
    api.automation().then(setState, () => setState(null));
    const on = (e: Event) => setState((e as CustomEvent<AutomationState>).detail);
    window.addEventListener(EVENT, on);
    return () => window.removeEventListener(EVENT, on);
  }, []);
  const publish = (s: AutomationState) => window.dispatchEvent(new CustomEvent(EVENT, { detail: s }));
  return [state, publish];
}

/** Pauses or resumes all automation (admins): no rule matches, deliveries and timers are held, nothing queued is dropped. */
export function AutomationSwitch() {
  const can = useAbilities();
  const toast = useToast();
  const [state, publish] = useAutomation();
  if (!state) return null;
  const toggle = async () => {
    try {
      const next = state.paused ? await api.resumeAutomation() : await api.pauseAutomation();
      publish(next);
      toast(next.paused ? 'Automation paused: no rule runs, deliveries and timers are held' : 'Automation resumed', 'success');
    } catch (err) {
      toast(errorText(err), 'error');
    }
  };
  return (
    <span className="automation-switch" data-testid="automation-switch" data-paused={state.paused ? 'true' : 'false'}>
      <span className={state.paused ? 'warn-text' : 'muted'}>
        Automation {state.paused ? 'paused' : 'running'}
        {state.rules.length > 0 ? ` · ${state.rules.length} rule(s) paused` : ''}
      </span>
      {can.admin && (
        <button type="button" className={state.paused ? 'primary' : 'danger'} onClick={toggle} data-testid="automation-toggle">
          {state.paused ? 'Resume' : 'Pause all'}
        </button>
      )}
    </span>
  );
}
