// Fallback rules: for a model, the ordered list of models to try when it has no healthy
// channel left. Kept as rows while editing so a half-typed rule does not vanish.
import { useId } from 'react';
import type { FallbackRules } from '../types';
import { ModelListInput } from './model-list-input';

export interface FallbackRow {
  rowId: number;
  model: string;
  targets: string[];
}

let nextRowId = 1;

export function rulesToRows(rules: FallbackRules): FallbackRow[] {
  return Object.entries(rules).map(([model, targets]) => ({ rowId: nextRowId++, model, targets: [...targets] }));
}

/** Builds the map sent to the API, or an error that says which rule to fix. */
export function rowsToRules(rows: FallbackRow[]): { rules: FallbackRules; error: string | null } {
  const rules: FallbackRules = {};
  for (const row of rows) {
    const model = row.model.trim();
    if (!model) return { rules, error: 'Each fallback rule needs the model it applies to.' };
    if (rules[model]) return { rules, error: `There are two fallback rules for ${model}; merge them into one.` };
    if (row.targets.length === 0) return { rules, error: `Add at least one fallback model for ${model}, or remove the rule.` };
    if (row.targets.includes(model)) return { rules, error: `${model} cannot fall back to itself.` };
    rules[model] = row.targets;
  }
  return { rules, error: null };
}

export function FallbackEditor({
  rows,
  onChange,
  suggestions,
  error,
}: {
  rows: FallbackRow[];
  onChange: (rows: FallbackRow[]) => void;
  suggestions: string[];
  error?: string | null;
}) {
  const listId = useId();
  const update = (rowId: number, patch: Partial<FallbackRow>) => onChange(rows.map((r) => (r.rowId === rowId ? { ...r, ...patch } : r)));

  return (
    <fieldset className="fallback-editor" data-testid="fallback-editor">
      <legend className="field-label">Fallback rules</legend>
      <p className="field-hint">When a model has no healthy channel left, Tollgate tries these models in order.</p>
      {rows.length === 0 && <p className="muted small">No fallback rules.</p>}
      {rows.map((row, index) => (
        <div className="fallback-rule" key={row.rowId} data-testid="fallback-rule">
          <div className="field">
            <label className="field-label" htmlFor={`${listId}-${row.rowId}`}>
              When this model is unavailable
            </label>
            <div className="row">
              <input
                id={`${listId}-${row.rowId}`}
                className="input mono grow"
                list={listId}
                value={row.model}
                placeholder="model id"
                autoComplete="off"
                data-testid={`fallback-model-${index}`}
                onChange={(e) => update(row.rowId, { model: e.target.value })}
              />
              <button type="button" className="btn btn-quiet" onClick={() => onChange(rows.filter((r) => r.rowId !== row.rowId))} aria-label={`Remove the fallback rule for ${row.model || 'this model'}`}>
                Remove rule
              </button>
            </div>
          </div>
          <ModelListInput
            label="Try instead, in order"
            value={row.targets}
            onChange={(targets) => update(row.rowId, { targets })}
            suggestions={suggestions.filter((s) => s !== row.model)}
            ordered
            emptyText="No fallback models yet."
            testId={`fallback-targets-${index}`}
          />
        </div>
      ))}
      <datalist id={listId}>
        {suggestions.map((s) => (
          <option key={s} value={s} />
        ))}
      </datalist>
      <button type="button" className="btn" onClick={() => onChange([...rows, { rowId: nextRowId++, model: '', targets: [] }])} data-testid="fallback-add-rule">
        Add fallback rule
      </button>
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
    </fieldset>
  );
}
