-- requests.lua - wrk script: a different token-bearing AuthZEN request each time.
--
--   wrk -t2 -c64 -d5s -s bench/replicas/requests.lua URL -- REQUESTS.tsv
--
-- REQUESTS.tsv holds one request a line: TOKEN <tab> BODY (run.sh writes it).
-- Each is POSTed to /access/v1/evaluation with "Authorization: Bearer TOKEN".
-- Every request of a thread takes the next line, round the pool; thread k
-- starts at line 1 + (k * 7919 mod N).  Requests are formatted once, in init.

local threads = 0
function setup(thread)
    thread:set("thread_index", threads)
    threads = threads + 1
end

local reqs = {}
local next_req = 1

function init(args)
    local file = args[1]
    if not file then
        error("requests.lua: usage: wrk ... -s requests.lua URL -- REQUESTS.tsv")
    end
    local f = assert(io.open(file, "rb"))
    for line in f:lines() do
        local tok, body = line:match("^([^\t]+)\t(.+)$")
        if tok then
            reqs[#reqs + 1] = wrk.format("POST", "/access/v1/evaluation",
                {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. tok}, body)
        end
    end
    f:close()
    if #reqs == 0 then
        error("requests.lua: no requests in " .. file)
    end
    local k = thread_index or 0
    next_req = (k * 7919) % #reqs + 1
end

function request()
    local r = reqs[next_req]
    next_req = next_req % #reqs + 1
    return r
end
