import { ConfigError, INVALID_ARGUMENT } from './errors.js';

/** Milliseconds per unit, in Go's `time.ParseDuration` spelling. */
const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3, // U+00B5 micro sign
  'μs': 1e-3, // U+03BC greek mu
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const TERM = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/**
 * Parses a Go-style duration string ("100ms", "30s", "1m", "1h30m", "1.5s", "0s", or bare "0")
 * into milliseconds (fractional for sub-millisecond units). A leading "+" is allowed; negative
 * durations, missing units, spaces and empty strings throw a `ConfigError` with code 3.
 */
export function parseDuration(s: string): number {
  const fail = (): never => {
    throw new ConfigError(
      INVALID_ARGUMENT,
      `invalid duration ${JSON.stringify(s)}: expected a number with a unit (ns, us, ms, s, m, h), e.g. "100ms", "30s" or "1m"`,
    );
  };
  if (typeof s !== 'string') return fail();
  const body = s.startsWith('+') ? s.slice(1) : s;
  if (body === '0') return 0;
  if (body === '') return fail();
  let total = 0;
  TERM.lastIndex = 0;
  while (TERM.lastIndex < body.length) {
    const m = TERM.exec(body);
    if (!m) return fail();
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
  }
  if (!Number.isFinite(total)) return fail();
  return total;
}
