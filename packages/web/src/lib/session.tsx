import type { Role } from '@orderflow/core';
import { createContext, useContext } from 'react';

/** What the signed-in role may do in the UI (the server enforces it anyway). */
export interface Abilities {
  role: Role;
  /** Workflows, rules, templates, endpoints. */
  design: boolean;
  /** Orders: create, move, record facts; deliveries: retry. */
  operate: boolean;
  admin: boolean;
}

export function abilitiesOf(role: Role): Abilities {
  return {
    role,
    design: role === 'admin' || role === 'designer',
    operate: role === 'admin' || role === 'operator',
    admin: role === 'admin',
  };
}

export const SessionContext = createContext<Abilities>(abilitiesOf('viewer'));
export const useAbilities = (): Abilities => useContext(SessionContext);
