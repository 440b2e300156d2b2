-- wrk script for bench/cpix.sh: POSTs one CPIX document (the file named by
-- $REQ_FILE) to $CPIX_PATH (default /v1/packager/cpix) with
-- `X-Api-Key: $API_KEY` and `Content-Type: application/xml`. The request is
-- prebuilt in init() (every request is the same document: the keys exist after
-- the script's first request, so this is the steady state).
--
-- Every answer is checked in the response hook: a status other than 200 is
-- counted as bad; a 200 whose body does not end with keyward's root close tag
-- `</cpix:CPIX>` (or an unprefixed `</CPIX>`) is counted as short.
-- (wrk's own non2xx counts only statuses >= 400.)
--
-- done() prints one machine-readable line that cpix.sh parses:
--   RESULT requests=<n> duration_us=<n> p50_us=<n> p99_us=<n> non2xx=<n> errors=<n> bad=<n> short=<n>
--
-- Paced mode (PACE_MS set): bench/pace.lua: each connection waits a
-- random 1..2*PACE_MS-1 ms after every response.

local path = os.getenv("CPIX_PATH") or "/v1/packager/cpix"
local req

local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(os.getenv("REQ_FILE"), "rb"))
  local doc = f:read("*a")
  f:close()
  assert(#doc > 0, "empty CPIX request file")
  local key = assert(os.getenv("API_KEY"), "API_KEY is not set")
  req = wrk.format("POST", path, {
    ["Content-Type"] = "application/xml",
    ["X-Api-Key"] = key,
  }, doc)
  bad = 0
  short = 0
end

function request()
  return req
end

-- the close tag is searched for in the body's last 256 bytes only
function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
  elseif body == nil then
    short = short + 1
  else
    local from = #body - 256
    if from < 1 then from = 1 end
    if not string.find(body, "</cpix:CPIX>", from, true)
       and not string.find(body, "</CPIX>", from, true) then
      short = short + 1
    end
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
