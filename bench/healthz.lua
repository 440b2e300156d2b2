-- wrk script for bench/load.sh: plain GET (the HTTP floor, e.g. /healthz);
-- only adds the machine-readable RESULT line (see licence.lua).

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d errors=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
