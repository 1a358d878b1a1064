-- wrk script: POST real Vocode payloads, each with a call_id never sent before, and count
-- the answers. Settings come from the environment (the main Lua state has no init args):
--   BENCH_PATH      request path, token included
--   BENCH_PAYLOADS  file of "<before call_id>\t<after call_id>" lines (compact JSON halves)
--   BENCH_PREFIX    call_id prefix, unique per wrk run
--   BENCH_IDS       file to write the ids answered with 202 into, one a line
--   BENCH_RESULT    file to write the summary into (JSON)

local path = os.getenv("BENCH_PATH")
local prefix = os.getenv("BENCH_PREFIX")
local headers = { ["Content-Type"] = "application/json" }
local templates = {}
for line in io.lines(os.getenv("BENCH_PAYLOADS")) do
   local tab = line:find("\t", 1, true)
   templates[#templates + 1] = { line:sub(1, tab - 1), line:sub(tab + 1) }
end

local threads = {}

function setup(thread)
   threads[#threads + 1] = thread
   thread:set("thread_no", #threads)
end

-- per thread state (globals, so that done() can read them with thread:get)
thread_no = 0
statuses = {}
ids = {}
local sent = 0

function request()
   sent = sent + 1
   local t = templates[(sent - 1) % #templates + 1]
   local call_id = prefix .. "-" .. thread_no .. "-" .. sent
   return wrk.format("POST", path, headers, t[1] .. call_id .. t[2])
end

function response(status, _, body)
   statuses[status] = (statuses[status] or 0) + 1
   if status == 202 then
      ids[#ids + 1] = body:match('"id"%s*:%s*"([^"]+)"') or ""
   end
end

function done(summary, latency, _)
   local counts = {}
   local out = io.open(os.getenv("BENCH_IDS"), "w")
   for _, thread in ipairs(threads) do
      for status, n in pairs(thread:get("statuses")) do
         counts[status] = (counts[status] or 0) + n
      end
      for _, id in ipairs(thread:get("ids")) do
         out:write(id, "\n")
      end
   end
   out:close()
   local parts = {}
   for status, n in pairs(counts) do
      parts[#parts + 1] = string.format('"%d": %d', status, n)
   end
   local e = summary.errors
   local result = io.open(os.getenv("BENCH_RESULT"), "w")
   result:write(string.format(
      '{"requests": %d, "duration_us": %d, "statuses": {%s}, '
         .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
         .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}}',
      summary.requests, summary.duration, table.concat(parts, ", "),
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean
   ))
   result:close()
end
