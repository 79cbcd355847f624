// Chart.js charts for the analytics page. Only the (lazy) analytics chunk imports this file,
// so the board never loads Chart.js.
import { useEffect, useState } from 'react';
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart as ChartJS,
  Legend,
  LineController,
  LineElement,
  LinearScale,
  PointElement,
  Tooltip,
  type ChartData,
  type ChartOptions,
} from 'chart.js';
import { Bar, Line } from 'react-chartjs-2';
import type { Analytics } from '../queries';

ChartJS.register(BarController, BarElement, LineController, LineElement, PointElement, CategoryScale, LinearScale, Legend, Tooltip);

/** Colours read from the page's CSS variables, so charts follow light and dark mode. */
interface Palette {
  text: string;
  muted: string;
  grid: string;
  high: string;
  medium: string;
  low: string;
  accent: string;
  ok: string;
}

function readPalette(): Palette {
  const css = typeof window !== 'undefined' ? getComputedStyle(document.documentElement) : null;
  const v = (name: string, fallback: string) => css?.getPropertyValue(name).trim() || fallback;
  const dark = typeof window !== 'undefined' && window.matchMedia?.('(prefers-color-scheme: dark)').matches;
  return {
    text: v('--text', dark ? '#e6e9ee' : '#1b1f24'),
    muted: v('--muted', dark ? '#a7b0bb' : '#57606a'),
    grid: v('--border', dark ? '#3a434f' : '#c9d1d9'),
    // Severity colours bright enough on both backgrounds.
    high: dark ? '#ff8a80' : '#b3261e',
    medium: dark ? '#f2c14e' : '#b07800',
    low: dark ? '#8cb4e0' : '#3d6f9e',
    accent: v('--accent', dark ? '#8cbcff' : '#0b5cad'),
    ok: dark ? '#8fe0a8' : '#1a7238',
  };
}

/** The palette, re-read when the colour scheme changes. */
function usePalette(): Palette {
  const [p, setP] = useState(readPalette);
  useEffect(() => {
    const mq = window.matchMedia?.('(prefers-color-scheme: dark)');
    if (!mq) return;
    const on = () => setP(readPalette());
    mq.addEventListener?.('change', on);
    return () => mq.removeEventListener?.('change', on);
  }, []);
  return p;
}

function baseOptions<T extends 'bar' | 'line'>(p: Palette, extra: { stacked?: boolean; horizontal?: boolean; unit?: string } = {}): ChartOptions<T> {
  const axis = (stacked: boolean, title?: string) => ({
    stacked,
    ticks: { color: p.muted },
    grid: { color: p.grid },
    border: { color: p.grid },
    ...(title ? { title: { display: true, text: title, color: p.muted } } : {}),
  });
  const valueAxis = { ...axis(!!extra.stacked, extra.unit), beginAtZero: true };
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    indexAxis: extra.horizontal ? 'y' : 'x',
    color: p.text,
    plugins: {
      legend: { labels: { color: p.text } },
      tooltip: { mode: 'index', intersect: false },
    },
    scales: extra.horizontal
      ? { x: valueAxis, y: axis(!!extra.stacked) }
      : { x: axis(!!extra.stacked), y: valueAxis },
  } as unknown as ChartOptions<T>;
}

const minutes = (ms: number | null) => (ms == null ? null : Math.round((ms / 60_000) * 10) / 10);
const hours = (ms: number) => Math.round((ms / 3_600_000) * 10) / 10;

export function IncidentsPerDayChart({ daily, label }: { daily: Analytics['daily']; label: string }) {
  const p = usePalette();
  const data: ChartData<'bar'> = {
    labels: daily.map((d) => d.date),
    datasets: [
      { label: 'High', data: daily.map((d) => d.highCount), backgroundColor: p.high },
      { label: 'Medium', data: daily.map((d) => d.mediumCount), backgroundColor: p.medium },
      { label: 'Low', data: daily.map((d) => d.lowCount), backgroundColor: p.low },
    ],
  };
  return <Bar role="img" aria-label={label} data={data} options={baseOptions<'bar'>(p, { stacked: true, unit: 'incidents' })} />;
}

export function TimesPerDayChart({ daily, label }: { daily: Analytics['daily']; label: string }) {
  const p = usePalette();
  const data: ChartData<'line', (number | null)[]> = {
    labels: daily.map((d) => d.date),
    datasets: [
      { label: 'MTTA (min)', data: daily.map((d) => minutes(d.mttaMs)), borderColor: p.accent, backgroundColor: p.accent, spanGaps: true },
      { label: 'MTTR (min)', data: daily.map((d) => minutes(d.mttrMs)), borderColor: p.ok, backgroundColor: p.ok, spanGaps: true },
    ],
  };
  return <Line role="img" aria-label={label} data={data} options={baseOptions<'line'>(p, { unit: 'minutes' })} />;
}

export function PagesPerResponderChart({ rows, label }: { rows: Analytics['byResponder']; label: string }) {
  const p = usePalette();
  const data: ChartData<'bar'> = {
    labels: rows.map((r) => r.user.name),
    datasets: [{ label: 'Pages received', data: rows.map((r) => r.pagesReceived), backgroundColor: p.accent }],
  };
  return <Bar role="img" aria-label={label} data={data} options={baseOptions<'bar'>(p, { horizontal: true, unit: 'pages' })} />;
}

export function OnCallHoursChart({ rows, label }: { rows: Analytics['onCallLoad']; label: string }) {
  const p = usePalette();
  const data: ChartData<'bar'> = {
    labels: rows.map((r) => r.user.name),
    datasets: [{ label: 'On-call hours', data: rows.map((r) => hours(r.onCallMs)), backgroundColor: p.ok }],
  };
  return <Bar role="img" aria-label={label} data={data} options={baseOptions<'bar'>(p, { horizontal: true, unit: 'hours' })} />;
}
