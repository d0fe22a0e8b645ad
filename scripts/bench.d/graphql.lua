-- wrk script for the cartql load benchmark. One scenario per run, chosen
-- by BENCH_SCENARIO: typename, cart, cost, add, checkout, mixed. Each request
-- speaks for the next viewer (tokens from BENCH_TOKENS, one per line), so
-- load spreads over many carts. A response counts as refused when it is not
-- a 200, has GraphQL errors, or (mutations) has userErrors: a benchmark that
-- counted refusals as successes would overstate writes.

local scenario = os.getenv("BENCH_SCENARIO") or "typename"
local token_file = os.getenv("BENCH_TOKENS")
local skus = tonumber(os.getenv("BENCH_SKUS") or "1000")
local thread_count = tonumber(os.getenv("BENCH_THREADS") or "2")
local threads = {}
local counter = 1

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

-- Per-thread counters are globals: done() reads them with thread:get().
local tokens = {}
n = 0
refused = 0
sample = nil

function init(args)
  if token_file then
    for line in io.lines(token_file) do
      tokens[#tokens + 1] = line
    end
  end
  math.randomseed(id * 7919 + os.time())
  wrk.method = "POST"
  wrk.headers["content-type"] = "application/json"
end

local CART = '{"query":"{ cart { version totalQuantity subtotal { amount } lines { sku quantity unitPrice { amount } lineTotal { amount } } } }"}'
local COST = '{"query":"{ cart { version cost { subtotal { amount } discountTotal { amount } taxTotal { amount } total { amount } estimated } discountCodes { code applicable } lines { sku quantity cost { discountTotal { amount } total { amount } } } } }"}'

-- Values travel as variables, as a real client sends them: the document
-- stays the same, so the server's parsed-document cache applies.
-- Viewer `index` (1-based, as in the token file) adds to one of its own
-- three SKUs (fill.py put them in its cart), so carts keep three lines.
local function add_body(index)
  local sku = ((index - 1) * 3 + math.random(0, 2)) % skus
  return '{"query":"mutation($sku: String!) { addCartLines(input: {lines: [{sku: $sku, quantity: 1}]}) { cart { version } userErrors { code } } }",' ..
    '"variables":{"sku":"SKU-' .. sku .. '"}}'
end

local function checkout_body()
  local sku = math.random(0, skus - 1)
  return '{"query":"mutation($sku: String!, $key: String!) { checkoutLines(input: {lines: [{sku: $sku, quantity: 1}], idempotencyKey: $key, buyerIdentity: {email: \\"bench@example.com\\"}}) { order { id } userErrors { code } } }",' ..
    '"variables":{"sku":"SKU-' .. sku .. '","key":"k-' .. id .. '-' .. n .. '"}}'
end

function request()
  n = n + 1
  if scenario == "typename" then
    return wrk.format(nil, nil, nil, '{"query":"{ __typename }"}')
  end
  -- Threads take turns through the tokens so no two hold the same viewer.
  local index = (n * thread_count + id) % #tokens + 1
  wrk.headers["authorization"] = "Bearer " .. tokens[index]
  local body
  if scenario == "cart" then
    body = CART
  elseif scenario == "cost" then
    body = COST
  elseif scenario == "add" then
    body = add_body(index)
  elseif scenario == "checkout" then
    body = checkout_body()
  elseif scenario == "mixed" then
    if math.random() < 0.8 then body = CART else body = add_body(index) end
  end
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status ~= 200 or body:find('"errors"', 1, true)
    or (body:find('"userErrors"', 1, true) and not body:find('"userErrors":[]', 1, true)) then
    refused = refused + 1
    if sample == nil then sample = body:sub(1, 300) end
  end
end

function done(summary, latency, requests)
  local total_refused = 0
  local first_sample = nil
  for _, thread in ipairs(threads) do
    total_refused = total_refused + thread:get("refused")
    first_sample = first_sample or thread:get("sample")
  end
  local seconds = summary.duration / 1e6
  io.write(string.format(
    'BENCH {"scenario":"%s","requests":%d,"seconds":%.2f,"rps":%.0f,"p50_ms":%.2f,"p99_ms":%.2f,"max_ms":%.2f,"socket_errors":%d,"refused":%d}\n',
    scenario, summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    total_refused + summary.errors.status))
  if first_sample then
    io.write("BENCH-SAMPLE " .. first_sample .. "\n")
  end
end
