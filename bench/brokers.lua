-- wrk script for bench/brokers.sh: POSTs the body in $BODY_FILE to
-- $LICENCE_PATH with Content-Type $CONTENT_TYPE (default
-- application/octet-stream) and, when $TOKENS names a file, the header
-- `pallycon-customdata-v2` rotating over its tokens (one a line). Requests
-- are prebuilt in init().
--
-- Every answer is checked in the response hook: a status other than 200 is
-- counted as bad, a 200 whose body is not $EXPECT_LEN bytes long (when set)
-- as short. (wrk's own non2xx counts only statuses >= 400.)
--
-- done() prints one machine-readable line that brokers.sh parses:
--   RESULT requests=<n> duration_us=<n> p50_us=<n> p99_us=<n> non2xx=<n> errors=<n> bad=<n> short=<n>
--
-- Paced mode (PACE_MS set): bench/pace.lua: each connection waits a
-- random 1..2*PACE_MS-1 ms after every response.

local path = os.getenv("LICENCE_PATH") or "/ri/licenseManager.do"
local ctype = os.getenv("CONTENT_TYPE") or "application/octet-stream"
local expect = tonumber(os.getenv("EXPECT_LEN") or "")
local reqs = {}
local i = 0

local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
  local body = f:read("*a")
  f:close()
  assert(#body > 0, "empty body file")
  local tokens = os.getenv("TOKENS") or ""
  if #tokens > 0 then
    local t = assert(io.open(tokens, "r"))
    for line in t:lines() do
      if #line > 0 then
        reqs[#reqs + 1] = wrk.format("POST", path, {
          ["Content-Type"] = ctype,
          ["pallycon-customdata-v2"] = line,
        }, body)
      end
    end
    t:close()
  else
    reqs[1] = wrk.format("POST", path, { ["Content-Type"] = ctype }, body)
  end
  assert(#reqs > 0, "no tokens in " .. tokens)
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
  elseif expect and (body == nil or #body ~= expect) then
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
