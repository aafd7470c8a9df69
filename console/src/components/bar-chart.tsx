// A small SVG bar chart drawn at the container's real pixel width, so labels stay legible
// from a phone to a desktop without scaling text.
import { type RefObject, useEffect, useRef, useState } from 'react';

export interface BarPoint {
  label: string;
  value: number;
  /** A highlighted share of the bar (e.g. errors among requests), drawn at its base. */
  part?: number;
}

interface BarChartProps {
  data: BarPoint[];
  format: (value: number) => string;
  axisFormat: (value: number) => string;
  title: string;
  partLabel?: string;
  testId: string;
  height?: number;
  /** counts: keep axis ticks on whole numbers */
  integer?: boolean;
}

function useWidth<T extends HTMLElement>(): [RefObject<T | null>, number] {
  const ref = useRef<T>(null);
  const [width, setWidth] = useState(600);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    setWidth(el.clientWidth || 600);
    const observer = new ResizeObserver((entries) => {
      const w = entries[0]?.contentRect.width;
      if (w) setWidth(Math.round(w));
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}

/** 1, 2 or 5 times a power of ten, at or above the value: round numbers on the axis. */
export function niceCeiling(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

/** Four equal steps of a round size that reach the largest value. */
export function axisTop(maxValue: number, integer = false): number {
  if (maxValue <= 0) return integer ? 4 : 1;
  const step = niceCeiling(maxValue / 4);
  return (integer ? Math.max(1, Math.ceil(step)) : step) * 4;
}

export function BarChart({ data, format, axisFormat, title, partLabel, testId, height = 180, integer }: BarChartProps) {
  const [ref, width] = useWidth<HTMLDivElement>();
  const margin = { top: 10, right: 8, bottom: 24, left: 52 };
  const plotW = Math.max(width - margin.left - margin.right, 10);
  const plotH = height - margin.top - margin.bottom;
  const max = axisTop(Math.max(0, ...data.map((d) => d.value)), integer);
  const slot = data.length > 0 ? plotW / data.length : plotW;
  const barW = Math.max(Math.min(slot * 0.7, 40), 2);
  // Label only as many days as fit at ~56 px each.
  const labelEvery = Math.max(1, Math.ceil(data.length / Math.max(1, Math.floor(plotW / 56))));
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * max);
  const total = data.reduce((s, d) => s + d.value, 0);
  const y = (v: number) => margin.top + plotH - (v / max) * plotH;

  return (
    <figure className="chart" data-testid={testId}>
      <figcaption className="chart-title">{title}</figcaption>
      <div ref={ref} className="chart-canvas">
        <svg width={width} height={height} role="img" aria-label={`${title}: ${data.length} days, total ${format(total)}`}>
          {ticks.map((t) => (
            <g key={t}>
              <line className="chart-grid" x1={margin.left} x2={margin.left + plotW} y1={y(t)} y2={y(t)} />
              <text className="chart-axis" x={margin.left - 6} y={y(t)} dy="0.32em" textAnchor="end">
                {axisFormat(t)}
              </text>
            </g>
          ))}
          {data.map((d, i) => {
            const x = margin.left + i * slot + (slot - barW) / 2;
            const h = (d.value / max) * plotH;
            const partH = d.part ? (Math.min(d.part, d.value) / max) * plotH : 0;
            const tip = `${d.label}: ${format(d.value)}${d.part ? ` (${partLabel ?? 'part'}: ${format(d.part)})` : ''}`;
            return (
              <g key={d.label} data-testid={`${testId}-bar`} data-value={d.value}>
                <title>{tip}</title>
                <rect className="chart-bar" x={x} y={margin.top + plotH - h} width={barW} height={h} rx={2} />
                {partH > 0 && <rect className="chart-bar-part" x={x} y={margin.top + plotH - partH} width={barW} height={partH} rx={2} />}
                {i % labelEvery === 0 && (
                  <text className="chart-axis" x={x + barW / 2} y={height - 6} textAnchor="middle">
                    {d.label}
                  </text>
                )}
              </g>
            );
          })}
          <line className="chart-baseline" x1={margin.left} x2={margin.left + plotW} y1={y(0)} y2={y(0)} />
        </svg>
      </div>
      <table className="sr-only">
        <caption>{title}</caption>
        <thead>
          <tr>
            <th scope="col">Day</th>
            <th scope="col">Value</th>
          </tr>
        </thead>
        <tbody>
          {data.map((d) => (
            <tr key={d.label}>
              <td>{d.label}</td>
              <td>{format(d.value)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
