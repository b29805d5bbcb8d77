# The same routes for nginx, HAProxy and Sluice, for the scale and churn
# comparisons. Source it after setting NGINX_PORT, HAPROXY_PORT, UP_PORT
# and POOLS.

# route_configs DIR HOSTS: host$h.example.com/p$p -> pool (h+p) % POOLS, in
# DIR/nginx.conf (plus DIR/extra/*.conf), DIR/haproxy.cfg with
# DIR/routes.map, DIR/m/ for Sluice, and DIR/spread.lua for wrk.
route_configs() {
    local dir="$1" hosts="$2" h p
    mkdir -p "$dir/m" "$dir/extra"
    {
        echo "worker_processes 1; master_process off; daemon off; pid $dir/nginx.pid; error_log stderr error;"
        echo "events { worker_connections 4096; }"
        echo "http { access_log off; keepalive_requests 1000000; server_names_hash_max_size 65536; server_names_hash_bucket_size 128;"
        for p in $(seq 0 $((POOLS - 1))); do echo "  upstream u$p { server 127.0.0.2:$UP_PORT; keepalive 64; }"; done
        for h in $(seq 0 $((hosts - 1))); do
            printf '  server { listen 127.0.0.1:%s; server_name host%s.example.com;' "$NGINX_PORT" "$h"
            for p in 0 1 2 3 4; do
                printf ' location /p%s { proxy_pass http://u%s; proxy_http_version 1.1; proxy_set_header Connection ""; }' "$p" $(((h + p) % POOLS))
            done
            echo " }"
        done
        echo "  include $dir/extra/*.conf;"
        echo "}"
    } > "$dir/nginx.conf"
    for h in $(seq 0 $((hosts - 1))); do
        for p in 0 1 2 3 4; do echo "host$h.example.com/p$p u$(((h + p) % POOLS))"; done
    done > "$dir/routes.map"
    {
        printf 'global\n  nbthread 1\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n'
        printf '  option http-keep-alive\n  http-reuse always\n'
        printf 'frontend bench\n  bind 127.0.0.1:%s\n  use_backend %%[base,map_beg(%s)]\n' "$HAPROXY_PORT" "$dir/routes.map"
        for p in $(seq 0 $((POOLS - 1))); do printf 'backend u%s\n  server s 127.0.0.2:%s\n' "$p" "$UP_PORT"; done
    } > "$dir/haproxy.cfg"
    {
        for p in $(seq 0 $((POOLS - 1))); do
            cat <<YAML
---
apiVersion: v1
kind: Service
metadata: {name: u$p}
spec: {ports: [{port: 80, targetPort: $UP_PORT}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: u$p-1, labels: {kubernetes.io/service-name: u$p}}
addressType: IPv4
ports: [{port: $UP_PORT}]
endpoints: [{addresses: ["127.0.0.2"]}]
YAML
        done
        for h in $(seq 0 $((hosts - 1))); do
            printf -- '---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: h%s}\nspec:\n  ingressClassName: sluice\n  rules: [{host: host%s.example.com, http: {paths: [' "$h" "$h"
            for p in 0 1 2 3 4; do
                ((p)) && printf ', '
                printf '{path: /p%s, pathType: Prefix, backend: {service: {name: u%s, port: {number: 80}}}}' "$p" $(((h + p) % POOLS))
            done
            printf ']}}]\n'
        done
    } > "$dir/m/routes.yaml"
    cat > "$dir/spread.lua" <<LUA
local n = 0
request = function()
  n = n + 1
  local h = (n * 7919) % $hosts
  local p = n % 5
  return wrk.format("GET", "/p" .. p .. "/x", { Host = "host" .. h .. ".example.com" })
end
LUA
}
