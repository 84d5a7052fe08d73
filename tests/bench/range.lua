-- wrk script: one random, aligned byte range of RANGE_SIZE bytes per request, within the
-- first FILE_SIZE bytes of the file. No response() hook: with one, wrk keeps every body in
-- memory for Lua, which at 64 MiB a response measures wrk, not the server (wrk still counts
-- non-2xx responses).
local size = tonumber(os.getenv("RANGE_SIZE"))
local file_size = tonumber(os.getenv("FILE_SIZE"))
local slots = math.floor(file_size / size)

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
  local start = math.random(0, slots - 1) * size
  return wrk.format("GET", nil, { ["Range"] = "bytes=" .. start .. "-" .. (start + size - 1) })
end
