-- wrk script for bench/load-tokens.sh: a request per token from a pool of
-- pre-minted tokens (one a line in the file named by $POOL).
--
--   HEADER=x-vudrm-token   each request POSTs the licence body to the URL's
--                          path with the token in that header (Studio licence);
--   HEADER unset           each line is a path with its query, e.g.
--                          /hms/ck/rights/?ExpressPlayToken=… (ExpressPlay
--                          redemption), POSTed with the licence body.
--   ONCE=1                 single-use tokens: thread k of $THREADS takes only
--                          lines k, k+THREADS, … so no token is sent twice in
--                          one run. When a thread runs out it starts again
--                          from its first token (those requests are then
--                          refused as reused); done() reports how many
--                          requests that was ("reused=").
--   ONCE unset             tokens rotate over the whole pool (stateless tokens).
--   PACE_MS=n              paced (half-load) mode, bench/pace.lua.
--
-- The requests are cheap to build: the fixed part is formatted once, each
-- request only concatenates prefix .. token .. suffix, so init() stays short
-- even with a pool of hundreds of thousands of tokens (wrk initialises its
-- threads one after another, and the first one already runs while the next
-- initialises).
--
-- done() prints the RESULT line of licence.lua, plus reused=<n>.

local body = os.getenv("BODY") or '{"kids":["q7onHovPVSu9LoakNKml2Q"],"type":"temporary"}'
local header = os.getenv("HEADER")
local once = os.getenv("ONCE") == "1"
local nthreads = tonumber(os.getenv("THREADS") or "1")
local pool = {}
local i = 0
reused = 0
local prefix, suffix

local threads = {}
local thread_no = 0
function setup(thread)
  thread:set("id", thread_no)
  thread_no = thread_no + 1
  threads[#threads + 1] = thread
end

function init(args)
  local f = assert(io.open(os.getenv("POOL"), "r"))
  local n = 0
  local me = id or 0
  for line in f:lines() do
    if #line > 0 then
      if not once or n % nthreads == me then
        pool[#pool + 1] = line
      end
      n = n + 1
    end
  end
  f:close()
  assert(#pool > 0, "no tokens for thread " .. me .. " in " .. os.getenv("POOL"))
  local hdrs = { ["Content-Type"] = "application/json" }
  local marker = "@@TOKEN@@"
  local r
  if header then
    hdrs[header] = marker              -- the token goes into that header
    r = wrk.format("POST", nil, hdrs, body)
  else
    r = wrk.format("POST", marker, hdrs, body)   -- the line is the path
  end
  local a, b = r:find(marker, 1, true)
  assert(a, "could not split the request template")
  prefix, suffix = r:sub(1, a - 1), r:sub(b + 1)
  if not once then
    i = (me * 97) % #pool
  end
end

local sent = 0
function request()
  i = i + 1
  if i > #pool then i = 1 end
  if once then
    sent = sent + 1
    if sent > #pool then reused = reused + 1 end
  end
  return prefix .. pool[i] .. suffix
end

function done(summary, latency, requests)
  local e = summary.errors
  -- requests sent beyond each thread's share of the pool carried a used token
  local r = 0
  for _, t in ipairs(threads) do
    r = r + (tonumber(t:get("reused")) or 0)
  end
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d errors=%d reused=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout, r))
end

-- Paced mode (PACE_MS): bench/pace.lua.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "pace.lua")
