// Edits a list of model ids without asking anyone to type JSON: chips to remove or reorder,
// and a text box with suggestions from the models the org can see.
import { type KeyboardEvent, useId, useState } from 'react';

interface ModelListInputProps {
  label: string;
  value: string[];
  onChange: (value: string[]) => void;
  suggestions: string[];
  /** Order matters (fallback chains): show buttons to move an entry earlier. */
  ordered?: boolean;
  emptyText?: string;
  hint?: string;
  testId: string;
}

export function ModelListInput({ label, value, onChange, suggestions, ordered, emptyText = 'None', hint, testId }: ModelListInputProps) {
  const [draft, setDraft] = useState('');
  const [note, setNote] = useState<string | null>(null);
  const listId = useId();
  const inputId = useId();

  const add = () => {
    const model = draft.trim();
    if (!model) return;
    if (value.includes(model)) {
      setNote(`${model} is already in the list.`);
      return;
    }
    onChange([...value, model]);
    setDraft('');
    setNote(null);
  };

  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'Enter') {
      // Enter adds the model instead of submitting the surrounding form.
      e.preventDefault();
      add();
    }
  };

  const moveEarlier = (index: number) => {
    if (index === 0) return;
    const next = [...value];
    [next[index - 1], next[index]] = [next[index], next[index - 1]];
    onChange(next);
  };

  return (
    <fieldset className="model-list" data-testid={testId}>
      <legend className="field-label">{label}</legend>
      {value.length === 0 ? (
        <p className="muted small" data-testid={`${testId}-empty`}>
          {emptyText}
        </p>
      ) : (
        <ol className={ordered ? 'chips chips-ordered' : 'chips'}>
          {value.map((model, i) => (
            <li key={model} className="chip" data-testid={`${testId}-item`}>
              <span className="mono">{model}</span>
              {ordered && i > 0 && (
                <button type="button" className="chip-btn" aria-label={`Move ${model} earlier`} onClick={() => moveEarlier(i)}>
                  ↑
                </button>
              )}
              <button type="button" className="chip-btn" aria-label={`Remove ${model}`} onClick={() => onChange(value.filter((m) => m !== model))}>
                ×
              </button>
            </li>
          ))}
        </ol>
      )}
      <div className="row">
        <label className="sr-only" htmlFor={inputId}>
          Add a model to {label.toLowerCase()}
        </label>
        <input
          id={inputId}
          className="input mono grow"
          list={listId}
          value={draft}
          placeholder="model id, e.g. gpt-5.4"
          autoComplete="off"
          data-testid={`${testId}-input`}
          onChange={(e) => {
            setDraft(e.target.value);
            setNote(null);
          }}
          onKeyDown={onKeyDown}
        />
        <button type="button" className="btn" onClick={add} data-testid={`${testId}-add`}>
          Add
        </button>
      </div>
      <datalist id={listId}>
        {suggestions
          .filter((s) => !value.includes(s))
          .map((s) => (
            <option key={s} value={s} />
          ))}
      </datalist>
      {(note || hint) && <p className={note ? 'field-error' : 'field-hint'}>{note ?? hint}</p>}
    </fieldset>
  );
}
