-- wrk script: GET top-10 recommendations for random known users.
-- Env: IDS_FILE (one raw user id per line), DATASET.
local ids = {}
for line in io.lines(os.getenv("IDS_FILE")) do ids[#ids + 1] = line end
local dataset = os.getenv("DATASET")
math.randomseed(os.time())

request = function()
  local u = ids[math.random(#ids)]
  return wrk.format("GET", "/v1/datasets/" .. dataset .. "/users/" .. u .. "/recommendations?n=10")
end
