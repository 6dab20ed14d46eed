# nginx.sh - sourced by the benchmarks and tests that run nginx beside Writ
# (bench/server/run.sh, bench/mcp/lib.sh, bench/replicas/run.sh,
# tests/server/nginx.sh, tests/server/replicas_state.sh).
#
#   nginx_head DIR [WORKERS]   prints the start of an nginx.conf whose pid,
#                    logs and temporary files all live in DIR (created):
#                    WORKERS worker processes (default 2, as Writ has 2
#                    threads), no access log, keep-alive without a request
#                    limit, and `http {` left open for the caller's
#                    upstreams and servers.
nginx_head() {
    mkdir -p "$1"
    cat <<CONF
worker_processes ${2:-2};
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $1/body; proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi; uwsgi_temp_path $1/uwsgi; scgi_temp_path $1/scgi;
    keepalive_requests 1000000;
CONF
}
