#!/usr/bin/env bash
# scenarios/services/http-across-a-router.toml, by hand: python3's http.server in one node, curl
# in another, a router between them; the service stopped, then started again.
. "$(dirname "$0")/lib.sh"
routed client r web
# `ip netns exec` forks: the server writes its own pid, so that it, not `ip`, gets the signal.
n web sh -c 'echo $$ > /run/web.pid; exec /usr/bin/python3 -m http.server 8000 --bind 0.0.0.0 --directory /' >/dev/null 2>&1 &
sleep 1
check "curl client -> http://10.2.0.2:8000/ (200)" n client /usr/bin/curl -s -o /dev/null -w '%{http_code}' http://10.2.0.2:8000/
echo
check "curl client -> closed port 8001 exits 7" bash -c "ip netns exec client /usr/bin/curl -s http://10.2.0.2:8001/; test \$? = 7"
# The service stopped (SIGTERM): its port refuses; started again: it serves.
kill -TERM "$(cat /run/web.pid)"
for _ in $(seq 100); do kill -0 "$(cat /run/web.pid)" 2>/dev/null || break; sleep 0.05; done
expect_probe refused client tcp 10.2.0.2 8000
check "curl client -> the stopped service exits 7" bash -c "ip netns exec client /usr/bin/curl -s http://10.2.0.2:8000/; test \$? = 7"
n web /usr/bin/python3 -m http.server 8000 --bind 0.0.0.0 --directory / >/dev/null 2>&1 &
sleep 1
check "curl client -> the service started again (200)" n client /usr/bin/curl -s -o /dev/null -w '%{http_code}' http://10.2.0.2:8000/
echo
kill $(jobs -p) 2>/dev/null || true
