-- userapi bench: the one result line of a wrk run, shared by bench/wrk.lua and bench/token.lua.

-- One line for bench/run.sh; wrk counts a status >= 400 as a status error.
function done(summary, latency, requests)
	local e = summary.errors

	io.write(string.format("wrk-result requests=%d duration_us=%d " ..
	    "p50_us=%d p99_us=%d status=%d connect=%d read=%d write=%d " ..
	    "timeout=%d\n", summary.requests, summary.duration,
	    math.floor(latency:percentile(50)),
	    math.floor(latency:percentile(99)),
	    e.status, e.connect, e.read, e.write, e.timeout))
end
