-- wrk script: requests from a file, the bench user's bearer token on every one.
--
-- BENCH_REQUESTS names a file with one request per line: METHOD <tab> PATH [<tab> JSON body].
-- Thread t of BENCH_THREADS sends lines t, t + n, t + 2n, ... and starts over at the end, so
-- a list of one-shot requests (finalize these drafts, pay these invoices) is shared out
-- between the threads without two of them sending the same line. Every request is
-- formatted once, in init: request() only hands out prepared strings.
-- done() prints one line, "BENCH_JSON {...}", that the harness parses.

local token = os.getenv("BENCH_TOKEN")
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
local counter = 0

function setup(thread)
   thread:set("tid", counter)
   counter = counter + 1
end

local prepared = {}
local next_index = 1

local function format(line)
   local method, path, body = line:match("^(%u+)\t([^\t]+)\t?(.*)$")
   local headers = { ["Authorization"] = "Bearer " .. token }
   if body == "" then
      body = nil
   else
      headers["Content-Type"] = "application/json"
   end
   return wrk.format(method, path, headers, body)
end

function init(args)
   local lines = {}
   for line in io.lines(os.getenv("BENCH_REQUESTS")) do
      table.insert(lines, line)
   end
   for index, line in ipairs(lines) do
      if (index - 1) % nthreads == tid then
         table.insert(prepared, format(line))
      end
   end
   if #prepared == 0 then -- fewer lines than threads: every thread sends them all
      for _, line in ipairs(lines) do
         table.insert(prepared, format(line))
      end
   end
end

function request()
   local raw = prepared[next_index]
   next_index = next_index + 1
   if next_index > #prepared then
      next_index = 1
   end
   return raw
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_ms":{"p50":%.3f,"p90":%.3f,"p99":%.3f,"max":%.3f,"mean":%.3f}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000))
end
