-- wrk script for bench/cluster.sh: ClearKey licences over many contents, so
-- that a node with a tiny cache TTL reads every site and key from the store.
-- Each line of the file named by $POOL is "<PallyCon token> <kid, base64url>";
-- each request POSTs the licence request for that kid with that token in the
-- pallycon-customdata-v2 header. Requests are prebuilt in init(); tokens
-- rotate (they are not single-use).
--
-- PACE_MS=n: paced (half-load) mode, bench/pace.lua.
-- done() prints the RESULT line of bench/licence.lua.

local path = os.getenv("LICENCE_PATH") or "/v1/license/clearkey"
local reqs = {}
local i = 0

local thread_no = 0
function setup(thread)
  thread:set("id", thread_no)
  thread_no = thread_no + 1
end

function init(args)
  local f = assert(io.open(os.getenv("POOL"), "r"))
  for line in f:lines() do
    local token, kid = line:match("^(%S+)%s+(%S+)$")
    if token then
      reqs[#reqs + 1] = wrk.format("POST", path, {
        ["Content-Type"] = "application/json",
        ["pallycon-customdata-v2"] = token,
      }, '{"kids":["' .. kid .. '"],"type":"temporary"}')
    end
  end
  f:close()
  assert(#reqs > 0, "no lines in " .. os.getenv("POOL"))
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
