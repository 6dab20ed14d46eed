-- bodies.lua - wrk script: POST a different JSON body with each request
-- (bench/server, and bench/replicas with a task token per request).
--
--   wrk -t2 -c64 -d10s -s bench/server/bodies.lua URL -- BODIES.jsonl
--
-- BODIES.jsonl holds one body per line (bench/server/gen_bodies.mjs).  Every
-- request of a thread takes the next body, round the pool; thread k starts at body
-- 1 + (k * 7919 mod N), so the threads do not send the same sequence in step.  The requests
-- are formatted once, in init, so that wrk's own cost per request stays that of a
-- fixed body.  A line may also be TOKEN <tab> BODY (bench/replicas/run.sh writes
-- those): that request carries "Authorization: Bearer TOKEN".

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

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
        error("bodies.lua: usage: wrk ... -s bodies.lua URL -- BODIES.jsonl")
    end
    local f = assert(io.open(file, "rb"))
    for line in f:lines() do
        local tok, body = line:match("^([^\t{]+)\t({.*)$")
        if tok then
            reqs[#reqs + 1] = wrk.format(nil, nil,
                {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. tok}, body)
        elseif #line > 0 then
            reqs[#reqs + 1] = wrk.format(nil, nil, nil, line)
        end
    end
    f:close()
    if #reqs == 0 then
        error("bodies.lua: no bodies in " .. file)
    end
    local k = thread_index or 0
    next_req = (k * 7919) % #reqs + 1
end

function request()
    local r = reqs[next_req]
    next_req = next_req % #reqs + 1
    return r
end
