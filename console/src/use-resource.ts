// Loads data for a page and keeps the last good value on screen while a reload or an
// auto-refresh runs, so a transient error never blanks a table someone is reading.
import { useCallback, useEffect, useRef, useState } from 'react';
import { type ApiError, toApiError } from './api';

export interface Resource<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  /** when data was last loaded successfully */
  updatedAt: Date | undefined;
  reload: () => void;
}

interface State<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  updatedAt: Date | undefined;
}

/**
 * `key` identifies the request: when it changes, the data is fetched again.
 * `refreshMs` re-fetches quietly in the background while the page is visible.
 */
export function useResource<T>(load: (signal: AbortSignal) => Promise<T>, key: string, refreshMs?: number): Resource<T> {
  const loadRef = useRef(load);
  loadRef.current = load;
  const [tick, setTick] = useState(0);
  const [state, setState] = useState<State<T>>({ data: undefined, error: undefined, loading: true, updatedAt: undefined });

  // biome-ignore lint/correctness/useExhaustiveDependencies: `key` and `tick` are the triggers; the loader is read through a ref so a new closure each render does not refetch.
  useEffect(() => {
    const controller = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    loadRef.current(controller.signal).then(
      (data) => {
        if (!controller.signal.aborted) setState({ data, error: undefined, loading: false, updatedAt: new Date() });
      },
      (e: unknown) => {
        if (controller.signal.aborted) return;
        setState((s) => ({ ...s, error: toApiError(e), loading: false }));
      },
    );
    return () => controller.abort();
  }, [key, tick]);

  useEffect(() => {
    if (!refreshMs) return;
    const timer = window.setInterval(() => {
      if (document.visibilityState === 'visible') setTick((t) => t + 1);
    }, refreshMs);
    return () => window.clearInterval(timer);
  }, [refreshMs]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}
