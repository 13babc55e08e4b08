-- wrk script: POST /next/{user} with a random user and track, as the simulator would.
-- Usage: wrk -t2 -c32 -d15s --latency -s bench/wrk-next.lua http://127.0.0.1:5001
local users = tonumber(os.getenv("BOTIFY_USERS") or "10000")
local tracks = tonumber(os.getenv("BOTIFY_TRACKS") or "50000")
local headers = { ["Content-Type"] = "application/json" }
math.randomseed(os.time())
request = function()
  local body = string.format('{"track": %d, "time": %.2f}', math.random(0, tracks - 1), math.random())
  return wrk.format("POST", "/next/" .. math.random(0, users - 1), headers, body)
end
