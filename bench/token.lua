-- userapi: wrk script of `make bench`: POST /token logins, each thread walking its own share of BENCH_LOGINS.
--
-- Environment: BENCH_LOGINS (a file of e-mails, one a line, every account
-- with the password BENCH_PASSWORD, which needs no URL encoding),
-- BENCH_THREADS (wrk's -t). Thread k of n logs in as accounts k, k + n,
-- k + 2n, ... in turn, so the threads never share an account and one
-- account comes back only after all the others: no account nears the
-- lockout (5 logins in 15 minutes) unless a run makes more logins than
-- there are accounts, and then successful logins have cleared its count.

local file = os.getenv("BENCH_LOGINS")
local password = os.getenv("BENCH_PASSWORD")
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "")
local threads = 0
local bodies = {}

if file == nil or file == "" then
	error("BENCH_LOGINS is not set")
end
if password == nil or password == "" or password:find("[^%w]") then
	error("BENCH_PASSWORD must be set, letters and digits only")
end
if nthreads == nil or nthreads < 1 then
	error("BENCH_THREADS must be wrk's -t")
end
for line in io.lines(file) do
	if line ~= "" then
		bodies[#bodies + 1] = "grant_type=password&username=" ..
		    (line:gsub("@", "%%40")) .. "&password=" .. password
	end
end
if #bodies < nthreads then
	error("fewer accounts in " .. file .. " than threads")
end

wrk.method = "POST"
wrk.path = "/token"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

-- Runs in the main state, once per thread, before that thread's init.
function setup(thread)
	threads = threads + 1
	thread:set("id", threads)
end

function init(args)
	next_login = id or 1
end

function request()
	local body = bodies[next_login]

	next_login = next_login + nthreads
	if next_login > #bodies then
		next_login = id or 1
	end
	return wrk.format(nil, nil, nil, body)
end

-- The result line bench/run.sh reads (wrk's done function).
dofile(os.getenv("BENCH_DIR") .. "/result.lua")
