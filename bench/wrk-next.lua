-- wrk script: POST /next/{user} with a random user and track, as the simulator would.
-- Usage: wrk -t2 -c32 -d15s --latency -s bench/wrk-next.lua http://127.0.0.1:5001
-- BOTIFY_USERS and BOTIFY_TRACKS set the ranges (10,000 users, 50,000 tracks by default).
local users = tonumber(os.getenv("BOTIFY_USERS") or "10000")
local tracks = tonumber(os.getenv("BOTIFY_TRACKS") or "50000")
local headers = { ["Content-Type"] = "application/json" }
local threads = 0
function setup(thread)
  -- Each thread its own seed: wrk's threads would otherwise draw the same users.
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  math.randomseed(os.time() * 1000 + id)
end
request = function()
  local body = string.format('{"track": %d, "time": %.2f}', math.random(0, tracks - 1), math.random())
  return wrk.format("POST", "/next/" .. math.random(0, users - 1), headers, body)
end
