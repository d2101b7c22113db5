// Figures shared by the bench and its scenarios, so that every table computes them the same way.

/** The p-th percentile (nearest rank) of `values`, in any order; NaN when there are none. */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** `v` to `digits` decimals; NaN and infinities pass through, so a missing figure stays visible. */
export function round(v, digits = 2) {
  return Number.isFinite(v) ? Math.round(v * 10 ** digits) / 10 ** digits : v;
}
