// Lets any component end the session (e.g. an error state after a 401) without prop drilling.
import { createContext, useContext } from 'react';

export interface SessionActions {
  logout: () => void;
}

export const SessionContext = createContext<SessionActions>({ logout: () => {} });

export function useSessionActions(): SessionActions {
  return useContext(SessionContext);
}
