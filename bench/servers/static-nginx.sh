#!/usr/bin/env bash
# nginx serving bench/servers/static-fixtures.mjs's directory at `/` on 127.0.0.1:$PORT: the
# reference point of the static-* scenarios. One worker, no master (so the pid the harness
# holds IS nginx), sendfile, no access log, errors to stderr. Its ETag is strong
# ("mtime-size"), its Last-Modified the fixtures' fixed mtime, so the 304 scenario
# (If-Modified-Since) is answered 304 as by the Node servers.
set -euo pipefail

PORT="${PORT:-8080}"
NGINX="${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

ROOT="$(node "$HERE/static-fixtures.mjs")"
# One prefix per port, rewritten on every start. nginx is exec'd (no shell left to clean up
# after it), so each start removes the prefixes of earlier runs: older than 10 minutes and
# without a live nginx (a prefix being set up right now by a parallel start is never that old).
TMP="${TMPDIR:-/tmp}"
while IFS= read -r stale; do
  pid="$(cat "$stale/nginx.pid" 2>/dev/null || true)"
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then rm -rf "$stale"; fi
done < <(find "$TMP" -maxdepth 1 -type d -name 'shallot-bench-nginx-*' -mmin +10 2>/dev/null)
PREFIX="$TMP/shallot-bench-nginx-$PORT"
mkdir -p "$PREFIX/logs" "$PREFIX/tmp"

cat >"$PREFIX/nginx.conf" <<CONF
master_process off;
daemon off;
worker_processes 1;
error_log stderr;
pid $PREFIX/nginx.pid;

events {
  worker_connections 4096;
}

http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  keepalive_timeout 65;
  default_type application/octet-stream;
  types {
    text/plain txt;
    application/octet-stream bin;
  }
  client_body_temp_path $PREFIX/tmp/body;
  proxy_temp_path $PREFIX/tmp/proxy;
  fastcgi_temp_path $PREFIX/tmp/fastcgi;
  uwsgi_temp_path $PREFIX/tmp/uwsgi;
  scgi_temp_path $PREFIX/tmp/scgi;

  server {
    listen 127.0.0.1:$PORT;
    root $ROOT;
  }
}
CONF

exec "$NGINX" -p "$PREFIX" -c "$PREFIX/nginx.conf"
