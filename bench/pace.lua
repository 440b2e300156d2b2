-- Paced mode for the wrk scripts in bench/ (each loads this file with the
-- line below, from the directory it is in):
--
--   dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "pace.lua")
--
-- With PACE_MS set, after each response a connection waits a random
-- 1..2*PACE_MS-1 ms (mean PACE_MS) before its next request, so N connections
-- offer about N*1000/(PACE_MS+latency) requests per second. The jitter keeps
-- the connections from firing in lock-step bursts (with a fixed delay they
-- line up on the same millisecond ticks), so arrivals are close to random,
-- as from many independent players. Without PACE_MS: no delay (saturation).
-- `id` is the thread number a script's setup() sets, when it does.

local pace = tonumber(os.getenv("PACE_MS") or "")
if pace then
  local seeded = false
  function delay()
    if not seeded then
      math.randomseed(os.time() * 1000 + (id or 0) * 7919)
      seeded = true
    end
    return math.random(1, 2 * pace - 1)
  end
end
