-- userapi: wrk script of `make bench`: GET BENCH_PATH ("{id}" = a random id of BENCH_IDS), one parsable result line.
--
-- Environment: BENCH_PATH (e.g. /users/{id} or /users?limit=10),
-- BENCH_IDS (a file of ids, one a line; needed when the path has {id}),
-- BENCH_TOKEN (sent as "Authorization: Bearer <token>" when set),
-- BENCH_DELAY_MS (when set, each connection waits that long after a
-- response before its next request: a probe at a known rate, not a load).

local path = os.getenv("BENCH_PATH") or "/"
local token = os.getenv("BENCH_TOKEN")
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "")
local threads = 0

if token ~= nil and token ~= "" then
	wrk.headers["Authorization"] = "Bearer " .. token
end

if delay_ms ~= nil and delay_ms > 0 then
	function delay()
		return delay_ms
	end
end

-- Runs in the main state, once per thread: a distinct random seed each.
function setup(thread)
	threads = threads + 1
	thread:set("seed", os.time() * 1000 + threads)
end

if path:find("{id}", 1, true) then
	local file = os.getenv("BENCH_IDS")
	local ids = {}

	if file == nil or file == "" then
		error("BENCH_IDS is not set")
	end
	for line in io.lines(file) do
		if line ~= "" then
			ids[#ids + 1] = line
		end
	end
	if #ids == 0 then
		error("no ids in " .. file)
	end

	function init(args)
		math.randomseed(seed or os.time())
	end

	-- A request function makes wrk build every request; without one
	-- (the fixed path below) wrk sends one prepared request again.
	function request()
		local p = path:gsub("{id}", ids[math.random(#ids)], 1)

		return wrk.format("GET", p)
	end
else
	wrk.path = path
end

-- The result line bench/run.sh reads (wrk's done function).
dofile(os.getenv("BENCH_DIR") .. "/result.lua")
