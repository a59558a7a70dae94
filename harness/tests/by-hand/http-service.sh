#!/usr/bin/env bash
# scenarios/services/http-across-a-router.toml, by hand: python3's http.server in one node, curl
# in another, a router between them.
. "$(dirname "$0")/lib.sh"
routed client r web
n web /usr/bin/python3 -m http.server 8000 --bind 0.0.0.0 --directory / >/dev/null 2>&1 &
sleep 1
check "curl client -> http://10.2.0.2:8000/ (200)" n client /usr/bin/curl -s -o /dev/null -w '%{http_code}' http://10.2.0.2:8000/
echo
check "curl client -> closed port 8001 exits 7" bash -c "ip netns exec client /usr/bin/curl -s http://10.2.0.2:8001/; test \$? = 7"
kill $(jobs -p) 2>/dev/null || true
