// Labelled form controls: every input has a visible label and its error is tied to it by
// aria-describedby, so screen readers announce what is wrong where it is wrong.
import { type ReactNode, useId } from 'react';

interface BaseProps {
  label: string;
  hint?: ReactNode;
  error?: string | null;
  testId?: string;
}

interface TextFieldProps extends BaseProps {
  value: string;
  onChange: (value: string) => void;
  type?: 'text' | 'email' | 'url' | 'datetime-local' | 'password' | 'number';
  placeholder?: string;
  required?: boolean;
  inputMode?: 'decimal' | 'numeric' | 'text' | 'email' | 'url';
  list?: string;
  autoComplete?: string;
  mono?: boolean;
}

export function TextField({ label, hint, error, testId, value, onChange, type = 'text', placeholder, required, inputMode, list, autoComplete, mono }: TextFieldProps) {
  const id = useId();
  const describedBy = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className="field">
      <label className="field-label" htmlFor={id}>
        {label}
        {required && <span aria-hidden="true"> *</span>}
      </label>
      <input
        id={id}
        className={mono ? 'input mono' : 'input'}
        type={type}
        value={value}
        placeholder={placeholder}
        required={required}
        inputMode={inputMode}
        list={list}
        autoComplete={autoComplete ?? 'off'}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy}
        data-testid={testId}
        onChange={(e) => onChange(e.target.value)}
      />
      {hint && (
        <span id={`${id}-hint`} className="field-hint">
          {hint}
        </span>
      )}
      {error && (
        <span id={`${id}-error`} className="field-error" data-testid={testId ? `${testId}-error` : undefined}>
          {error}
        </span>
      )}
    </div>
  );
}

export function SelectField({
  label,
  hint,
  error,
  testId,
  value,
  onChange,
  options,
}: BaseProps & { value: string; onChange: (value: string) => void; options: { value: string; label: string }[] }) {
  const id = useId();
  return (
    <div className="field">
      <label className="field-label" htmlFor={id}>
        {label}
      </label>
      <select id={id} className="input" value={value} data-testid={testId} onChange={(e) => onChange(e.target.value)} aria-invalid={error ? true : undefined}>
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
      {hint && <span className="field-hint">{hint}</span>}
      {error && <span className="field-error">{error}</span>}
    </div>
  );
}

export function CheckboxField({ label, checked, onChange, testId, hint }: { label: string; checked: boolean; onChange: (checked: boolean) => void; testId?: string; hint?: string }) {
  return (
    <label className="checkbox">
      <input type="checkbox" checked={checked} data-testid={testId} onChange={(e) => onChange(e.target.checked)} />
      <span>
        {label}
        {hint && <span className="field-hint block">{hint}</span>}
      </span>
    </label>
  );
}
