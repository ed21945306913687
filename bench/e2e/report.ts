// Statistics, the text/Markdown table and the hand-written SVG ratio chart.

export function median(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** Nearest-rank percentile of an ascending-sorted array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function fmt(x: number): string {
  if (!Number.isFinite(x)) return "–";
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString("en-US");
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(2);
}

export function fmtRatio(x: number): string {
  if (!Number.isFinite(x)) return "–";
  if (x >= 10) return x.toFixed(0) + "×";
  if (x >= 1) return x.toFixed(2) + "×";
  return x.toPrecision(2) + "×";
}

/** Align a table (first row = header) as Markdown, padded so it also reads as plain text. */
export function markdownTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 3, [...c].length)));
  const line = (r: string[]): string => "| " + r.map((c, i) => c + " ".repeat(widths[i]! - [...c].length)).join(" | ") + " |";
  const out = [line(rows[0]!), "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|"];
  for (const r of rows.slice(1)) out.push(line(r));
  return out.join("\n");
}

// ---- SVG ---------------------------------------------------------------------------------
export interface ChartRow {
  label: string;
  /** server -> ratio (value / baseline) */
  values: Record<string, number>;
}
export interface ChartPanel {
  title: string;
  rows: ChartRow[];
}

const COLORS = ["#1f77b4", "#2ca02c", "#d62728", "#ff7f0e", "#9467bd", "#8c564b"];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Horizontal grouped bars on a log10 axis, one panel per baseline. */
export function ratioSvg(title: string, subtitle: string, panels: ChartPanel[], servers: string[]): string {
  const labelW = 150;
  const plotW = 330;
  const panelW = labelW + plotW + 30;
  const barH = 9;
  const rowGap = 10;
  const top = 70;
  const nRows = Math.max(...panels.map((p) => p.rows.length), 1);
  const rowH = servers.length * barH + rowGap;
  const plotH = nRows * rowH;
  const height = top + plotH + 60;
  const width = panelW * panels.length + 20;
  // axis range: powers of ten covering all finite ratios
  let lo = 0.1;
  let hi = 10;
  for (const p of panels)
    for (const r of p.rows)
      for (const v of Object.values(r.values))
        if (Number.isFinite(v) && v > 0) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
  const l0 = Math.floor(Math.log10(lo));
  const l1 = Math.ceil(Math.log10(hi));
  const xOf = (v: number): number => ((Math.log10(v) - l0) / (l1 - l0)) * plotW;

  const o: string[] = [];
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
  );
  o.push(`<rect width="100%" height="100%" fill="#fff"/>`);
  o.push(`<text x="10" y="20" font-size="15" font-weight="bold">${esc(title)}</text>`);
  o.push(`<text x="10" y="38" fill="#555">${esc(subtitle)}</text>`);
  panels.forEach((p, pi) => {
    const x0 = 10 + pi * panelW + labelW;
    o.push(`<text x="${x0}" y="${top - 14}" font-weight="bold">${esc(p.title)}</text>`);
    for (let e = l0; e <= l1; e++) {
      const x = x0 + xOf(10 ** e);
      o.push(`<line x1="${x}" y1="${top - 4}" x2="${x}" y2="${top + plotH}" stroke="${e === 0 ? "#000" : "#ddd"}" stroke-width="${e === 0 ? 1.2 : 1}"/>`);
      const lab = e >= 0 ? String(10 ** e) : (10 ** e).toFixed(-e);
      o.push(`<text x="${x}" y="${top + plotH + 14}" text-anchor="middle" fill="#555">${lab}×</text>`);
    }
    p.rows.forEach((r, ri) => {
      const y = top + ri * rowH;
      o.push(`<text x="${x0 - 6}" y="${y + (servers.length * barH) / 2 + 4}" text-anchor="end">${esc(r.label)}</text>`);
      servers.forEach((s, si) => {
        const v = r.values[s];
        const by = y + si * barH;
        if (v === undefined || !Number.isFinite(v) || v <= 0) return;
        const x1 = x0 + xOf(1);
        const xv = x0 + xOf(v);
        const bx = Math.min(x1, xv);
        const bw = Math.max(1, Math.abs(xv - x1));
        o.push(
          `<rect x="${bx.toFixed(1)}" y="${by}" width="${bw.toFixed(1)}" height="${barH - 1}" fill="${COLORS[si % COLORS.length]}"><title>${esc(`${s} ${r.label}: ${v.toPrecision(3)}×`)}</title></rect>`,
        );
        const tx = xv >= x1 ? xv + 3 : xv - 3;
        o.push(
          `<text x="${tx.toFixed(1)}" y="${by + barH - 1}" font-size="9" text-anchor="${xv >= x1 ? "start" : "end"}" fill="#333">${v >= 10 ? v.toFixed(0) : v.toPrecision(2)}</text>`,
        );
      });
    });
  });
  // legend
  const ly = top + plotH + 34;
  servers.forEach((s, si) => {
    const lx = 10 + si * 150;
    o.push(`<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${COLORS[si % COLORS.length]}"/>`);
    o.push(`<text x="${lx + 14}" y="${ly}">${esc(s)}</text>`);
  });
  o.push(`<text x="${width - 10}" y="${ly}" text-anchor="end" fill="#555">lower is better · log scale · 1× = the baseline</text>`);
  o.push(`</svg>`);
  return o.join("\n") + "\n";
}
