-- wrk script: POST fold-in requests, each with a 100-item history of random known
-- items. Env: IDS_FILE (one raw item id per line), DATASET.
local items = {}
for line in io.lines(os.getenv("IDS_FILE")) do items[#items + 1] = line end
local path = "/v1/datasets/" .. os.getenv("DATASET") .. "/recommendations"
math.randomseed(42)
local bodies = {}
for b = 1, 200 do
  local h = {}
  for i = 1, 100 do
    h[i] = string.format('{"item": "%s", "value": %d}', items[math.random(#items)], math.random(5))
  end
  bodies[b] = '{"n": 10, "history": [' .. table.concat(h, ",") .. ']}'
end
local next_body = 0
wrk.headers["content-type"] = "application/json"

request = function()
  next_body = next_body % #bodies + 1
  return wrk.format("POST", path, nil, bodies[next_body])
end
