-- wrk script for bench/load.sh: POSTs a W3C ClearKey licence request and
-- rotates the `pallycon-customdata-v2` header over a pool of pre-minted
-- tokens (one line each in the file named by $TOKENS), so no two consecutive
-- requests on a connection carry the same token. Every request is prebuilt
-- with wrk.format in init(), so the generator spends no time formatting.
--
-- done() prints one machine-readable line that load.sh parses:
--   RESULT requests=<n> duration_us=<n> p50_us=<n> p99_us=<n> non2xx=<n> errors=<n>

local body = '{"kids":["q7onHovPVSu9LoakNKml2Q"],"type":"temporary"}'
local path = os.getenv("LICENCE_PATH") or "/ri/clearkey/licenseManager.do"
local reqs = {}
local i = 0

-- Each wrk thread has its own Lua state; a global counter set in setup()
-- gives each thread a different starting point in the pool.
local thread_no = 0
function setup(thread)
  thread:set("id", thread_no)
  thread_no = thread_no + 1
end

function init(args)
  local f = assert(io.open(os.getenv("TOKENS"), "r"))
  for line in f:lines() do
    if #line > 0 then
      reqs[#reqs + 1] = wrk.format("POST", path, {
        ["Content-Type"] = "application/json",
        ["pallycon-customdata-v2"] = line,
      }, body)
    end
  end
  f:close()
  assert(#reqs > 0, "no tokens in " .. os.getenv("TOKENS"))
  i = ((id or 0) * 97) % #reqs
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d errors=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end

-- Paced mode (PACE_MS): bench/pace.lua.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "pace.lua")
