-- wrk script for bench/fairplay.sh: POSTs a raw SPC (the file named by
-- $SPC_FILE) to $LICENCE_PATH (default /v1/license/fairplay) with
-- `Authorization: Bearer <token>`, rotating over the tokens in $TOKENS (one a
-- line). Requests are prebuilt in init().
--
-- Every answer is checked in the response hook: a status other than 200, or a
-- 200 whose body is shorter than a CKC header (28 bytes), is counted as bad.
-- (wrk's own non2xx counts only statuses >= 400.)
--
-- done() prints one machine-readable line that fairplay.sh parses:
--   RESULT requests=<n> duration_us=<n> p50_us=<n> p99_us=<n> non2xx=<n> errors=<n> bad=<n> short=<n>
-- (bad = answers that were not 200; short = 200s with a body under 28 bytes)
--
-- Paced mode (PACE_MS set): bench/pace.lua: each connection waits a
-- random 1..2*PACE_MS-1 ms after every response.

local path = os.getenv("LICENCE_PATH") or "/v1/license/fairplay"
local reqs = {}
local i = 0

local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(os.getenv("SPC_FILE"), "rb"))
  local spc = f:read("*a")
  f:close()
  assert(#spc > 0, "empty SPC file")
  local t = assert(io.open(os.getenv("TOKENS"), "r"))
  for line in t:lines() do
    if #line > 0 then
      reqs[#reqs + 1] = wrk.format("POST", path, {
        ["Content-Type"] = "application/octet-stream",
        ["Authorization"] = "Bearer " .. line,
      }, spc)
    end
  end
  t:close()
  assert(#reqs > 0, "no tokens in " .. os.getenv("TOKENS"))
  i = ((id or 0) * 97) % #reqs
  bad = 0
  short = 0
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end

function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
  elseif body == nil or #body < 28 then
    short = short + 1
  end
end

function done(summary, latency, requests)
  local nbad, nshort = 0, 0
  for _, t in ipairs(threads) do
    nbad = nbad + (t:get("bad") or 0)
    nshort = nshort + (t:get("short") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d errors=%d bad=%d short=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout, nbad, nshort))
end

-- Paced mode (PACE_MS): bench/pace.lua.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "pace.lua")
