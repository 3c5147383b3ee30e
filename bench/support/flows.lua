-- The benches' HTTP clients, run by wrk (see loadgen.py). Each wrk thread is one client on
-- one connection: it plays its own plan one request after another (a payment's confirmation
-- follows its quote on the same connection) and records every answer; at the end of its plan,
-- or after `stop_at`, it writes its records to `<dir>/client-<id>.log` and stops.
--
-- Arguments (after `--`, as name=value): flow (get | pay | book), dir, stop_at (CLOCK_MONOTONIC
-- microseconds, 0: no limit), token, and per flow: path (get); city, service, amount, first,
-- last (pay: bills PB<first + id + k * clients> up to PB<last>); city (book: the plan is
-- `<dir>/plan-<id>.tsv`, lines of user, slot, idempotency key); city, campaign, token0..tokenN
-- (claim: the plan's lines are user, channel number, idempotency key; each claim goes out with
-- the token of its channel).

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } cityhub_timespec;
int clock_gettime(int clk_id, cityhub_timespec *tp);
]]
local clock = ffi.new("cityhub_timespec")
local function now_us()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC: the same clock as Python's time.monotonic
  return tonumber(clock.tv_sec) * 1000000 + math.floor(tonumber(clock.tv_nsec) / 1000)
end

local created = 0
function setup(thread)
  thread:set("id", created)
  created = created + 1
end

local opt, records, plan = {}, {}, {}
local step, started, finished, clients = 1, 0, false, 0
local headers = {}
local bill, confirm = 0, nil

function init(args)
  for _, arg in ipairs(args) do
    local name, value = arg:match("^([%w_]+)=(.*)$")
    opt[name] = value
  end
  clients = tonumber(opt.clients)
  opt.stop_at = tonumber(opt.stop_at or "0")
  if (opt.token or "") ~= "" then
    headers["Authorization"] = "Bearer " .. opt.token
  end
  if opt.flow == "book" or opt.flow == "claim" then
    for line in io.lines(opt.dir .. "/plan-" .. id .. ".tsv") do
      local user, slot, key = line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)$")
      plan[#plan + 1] = { user = user, slot = slot, key = key }
    end
  elseif opt.flow == "pay" then
    bill = tonumber(opt.first) + id
  end
end

local function finish()
  finished = true
  local out = assert(io.open(opt.dir .. "/client-" .. id .. ".log", "w"))
  out:write(table.concat(records, "\n"))
  out:write("\n")
  out:close()
  assert(io.open(opt.dir .. "/client-" .. id .. ".done", "w")):close()
  wrk.thread:stop()
end

local function over()
  return opt.stop_at > 0 and now_us() >= opt.stop_at
end

local function post(path, body, key)
  headers["Content-Type"] = "application/json"
  headers["Idempotency-Key"] = key
  return wrk.format("POST", path, headers, body)
end

function request()
  started = now_us()
  if opt.flow == "get" then
    return wrk.format("GET", opt.path, headers)
  elseif opt.flow == "claim" then
    local a = plan[step]
    headers["Authorization"] = "Bearer " .. opt["token" .. a.slot]
    return post("/v1/cities/" .. opt.city .. "/subsidies/" .. opt.campaign .. "/claims",
      string.format('{"user_id":"%s"}', a.user), a.key)
  elseif opt.flow == "book" then
    local a = plan[step]
    return post("/v1/cities/" .. opt.city .. "/appointments/bookings",
      string.format('{"user_id":"%s","slot":"%s"}', a.user, a.slot), a.key)
  elseif confirm == nil then
    return post("/v1/cities/" .. opt.city .. "/payments",
      string.format('{"service":"%s","bill_id":"PB%d","amount_fen":%s,"currency":"CNY"}',
        opt.service, bill, opt.amount), "quote-" .. bill)
  else
    return post("/v1/cities/" .. opt.city .. "/payments/" .. confirm.id .. "/confirmation",
      string.format('{"channel_txn_id":"txn-%d","amount_fen":%s,"currency":"CNY"}',
        bill, confirm.total), "confirm-" .. bill)
  end
end

local function record(kind, status, info)
  -- start (us), kind, status, latency (us), what the answer said (an id or a problem's code)
  records[#records + 1] = string.format("%d\t%s\t%d\t%d\t%s", started, kind, status,
    now_us() - started, info or "")
end

local function problem(body)
  return body:match('"code":"([^"]*)"') or ""
end

function response(status, _, body)
  if finished then
    return
  end
  if opt.flow == "get" then
    record("get", status, status == 200 and "" or problem(body))
    if over() then finish() end
  elseif opt.flow == "claim" then
    record("claim", status, status == 201 and body:match('"id":"([^"]*)"') or problem(body))
    step = step + 1
    if step > #plan or over() then finish() end
  elseif opt.flow == "book" then
    record("book", status, status == 201 and body:match('"id":"([^"]*)"') or problem(body))
    step = step + 1
    if step > #plan or over() then finish() end
  elseif confirm == nil then
    record("quote", status, status == 201 and "" or problem(body))
    if status == 201 then
      confirm = { id = body:match('"id":"([^"]*)"'), total = body:match('"total_fen":(%d+)') }
    else
      bill = bill + clients
    end
  else
    record("confirm", status, status == 200 and "" or problem(body))
    confirm = nil
    bill = bill + clients
  end
  if opt.flow == "pay" and confirm == nil and (bill > tonumber(opt.last) or over()) then
    finish()
  end
end

function delay()
  return finished and 3600000 or 0 -- a stopped client sends nothing more
end
