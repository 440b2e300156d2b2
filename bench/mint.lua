-- wrk script for bench/load-tokens.sh: one fixed request, prebuilt in init(),
-- sent over and over — a token-minting call (Studio `POST /v2/token`,
-- ExpressPlay `GET /hms/ck/token?…`). The URL given to wrk supplies the path
-- and query; the environment supplies the rest:
--   METHOD   GET (default) or POST
--   BODY     request body (POST), e.g. {"clientName":"bench","policy":{…}}
--   HEADERS  extra headers, one "Name: value" per line
--   CAPTURE  when set, every 200 answer's body is appended to the file
--            $CAPTURE.<thread number> (one token a line): this is how the
--            pools of pre-minted tokens are filled. Leave it unset for a
--            measurement (response() costs the generator a Lua call per
--            answer).
--
-- done() prints the same RESULT line as licence.lua.

local method = os.getenv("METHOD") or "GET"
local body = os.getenv("BODY")
local capture = os.getenv("CAPTURE")
local req

local thread_no = 0
function setup(thread)
  thread:set("id", thread_no)
  thread_no = thread_no + 1
end

function init(args)
  local headers = {}
  for line in (os.getenv("HEADERS") or ""):gmatch("[^\n]+") do
    local name, value = line:match("^%s*([^:]+):%s*(.-)%s*$")
    if name then headers[name] = value end
  end
  req = wrk.format(method, nil, headers, body)
  if capture then
    local out = assert(io.open(capture .. "." .. tostring(id or 0), "w"))
    function response(status, hdrs, b)
      if status == 200 and b and #b > 0 then
        out:write(b, "\n")
      end
    end
  end
end

function request()
  return req
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d errors=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
