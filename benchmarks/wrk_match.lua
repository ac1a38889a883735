-- wrk script: POST /v1/match with briefs in rotation, each made unique; stops a thread after MAX_REQUESTS (env) requests, and
-- prints a JSON summary line (requests, seconds, errors by kind, latency percentiles in ms) for bench_load.py.
local briefs = {
  "recovering cobalt from mine tailings",
  "recycling rare earth magnets from electronic waste",
  "lithium extraction from geothermal brines with low water use",
  "graphite anode purification without hydrofluoric acid",
  "monitoring tailings dam stability with satellite radar",
  "critical minerals supply chain life cycle assessment",
  "nickel processing with lower carbon emissions",
  "hydrometallurgical recycling of lithium-ion batteries",
}
local max_requests = tonumber(os.getenv("MAX_REQUESTS") or "0")
local counter = 0

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

request = function()
  counter = counter + 1
  if max_requests > 0 and counter > max_requests then
    wrk.thread:stop()
  end
  -- A request number in the text makes every brief unique, so no request is answered from a query cache.
  local text = briefs[(counter % #briefs) + 1] .. " (request " .. counter .. ")"
  return wrk.format(nil, "/v1/match", nil, '{"text": "' .. text .. '", "countries": ["GB"], "k": 10}')
end

done = function(summary, latency, requests)
  io.write(string.format(
    'WRK_JSON {"requests": %d, "seconds": %.3f, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, "latency_ms": {"p50": %.2f, "p90": %.2f, "p99": %.2f, "max": %.2f, "mean": %.2f}}\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, latency.mean / 1000))
end
