-- wrk script: one Kladana workflow webhook per request, each about another document.
-- Environment: BENCH_TOKEN (the query token), BENCH_RATE (requests/s for each wrk
-- thread; unset or 0 = as fast as the connections allow).
-- Ends with one line "BENCH_RESULT {json}" that bench/load.py reads.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *ts);
]]
local CLOCK_MONOTONIC = 1
local clock = ffi.new("bench_timespec")

-- Plain wrk has no clock for scripts; LuaJIT's ffi reaches the C library's.
local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local token = os.getenv("BENCH_TOKEN") or ""
local rate = tonumber(os.getenv("BENCH_RATE") or "0") or 0
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  sent, accepted, late, max_lag_ms = 0, 0, 0, 0
end

function request()
  sent = sent + 1
  local path = string.format(
    "/webhook?id=bench-%d-%d&type=CustomerOrder&token=%s", thread_id, sent, token)
  return wrk.format("GET", path)
end

function response(status, headers, body)
  if status == 202 then
    accepted = accepted + 1
  end
end

if rate > 0 then
  -- Constant rate: every request has a slot on a fixed schedule; a free connection takes
  -- the next slot and waits for it. wrk times a request from when it is written, so a
  -- slot taken late (every connection was busy) is counted: "late" and "max_lag_ms".
  local interval_ms = 1000 / rate
  local next_slot = nil
  function delay()
    local now = now_ms()
    next_slot = next_slot or now
    local slot = next_slot
    next_slot = slot + interval_ms
    local wait = slot - now
    if wait >= 0 then
      return math.ceil(wait)
    end
    if -wait > max_lag_ms then max_lag_ms = -wait end
    if -wait > 1 then late = late + 1 end
    return 0
  end
end

function done(summary, latency, requests)
  local total = { accepted = 0, late = 0, max_lag_ms = 0 }
  for _, thread in ipairs(threads) do
    total.accepted = total.accepted + thread:get("accepted")
    total.late = total.late + thread:get("late")
    total.max_lag_ms = math.max(total.max_lag_ms, thread:get("max_lag_ms"))
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "accepted": %d, "errors": %d, "duration_s": %.6f, '
    .. '"p50_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, "late": %d, "max_lag_ms": %.3f}\n',
    summary.requests, total.accepted,
    errors.connect + errors.read + errors.write + errors.status + errors.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, total.late, total.max_lag_ms))
end
