# The same routes for nginx, HAProxy, Envoy, Traefik and Sluice, for the
# scale and churn comparisons. Source it after setting NGINX_PORT,
# HAPROXY_PORT, ENVOY_PORT, TRAEFIK_PORT, UP_PORT and POOLS.

# route_configs DIR HOSTS: host$h.example.com/p$p -> pool (h+p) % POOLS, in
# DIR/nginx.conf (plus DIR/extra/*.conf), DIR/haproxy.cfg with
# DIR/routes.map, DIR/envoy/envoy.yaml with its routes in DIR/envoy/rds.json,
# DIR/traefik/traefik.yml with its routes in DIR/traefik/dyn/, DIR/m/ for
# Sluice, and DIR/spread.lua for wrk.
#
# Envoy: a static listener and the pools as static clusters; the routes are a
# RouteConfiguration read from a file (RDS from path_config_source, no xDS
# server), a virtual host per host with 5 prefix routes, reloaded when a new
# file is renamed onto it (watched_directory): how compare-churn changes it.
# Traefik: its file provider on a directory (watch: true), a router per host
# and path (Host && PathPrefix) and a service per pool. Neither adds the
# forwarded headers nginx and HAProxy do not add here, except what they
# always add (Envoy X-Forwarded-Proto; Traefik X-Forwarded-*, X-Real-Ip and
# Accept-Encoding: gzip).
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
    mkdir -p "$dir/envoy" "$dir/traefik/dyn"
    cat > "$dir/envoy/envoy.yaml" <<CONF
node: {id: bench, cluster: bench}
static_resources:
  listeners:
  - name: bench
    address: {socket_address: {address: 127.0.0.1, port_value: $ENVOY_PORT}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
          codec_type: AUTO
          generate_request_id: false
          rds:
            route_config_name: routes
            config_source:
              resource_api_version: V3
              path_config_source: {path: $dir/envoy/rds.json, watched_directory: {path: $dir/envoy}}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router, suppress_envoy_headers: true}
  clusters:
CONF
    for p in $(seq 0 $((POOLS - 1))); do
        printf '  - {name: u%s, connect_timeout: 5s, type: STATIC, load_assignment: {cluster_name: u%s, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.2, port_value: %s}}}}]}]}}\n' "$p" "$p" "$UP_PORT"
    done >> "$dir/envoy/envoy.yaml"
    {
        printf '{"version_info": "0", "resources": [{"@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration", "name": "routes", "virtual_hosts": [\n'
        for h in $(seq 0 $((hosts - 1))); do
            ((h)) && printf ',\n'
            printf '{"name": "h%s", "domains": ["host%s.example.com"], "routes": [' "$h" "$h"
            for p in 0 1 2 3 4; do
                ((p)) && printf ', '
                printf '{"match": {"prefix": "/p%s"}, "route": {"cluster": "u%s"}}' "$p" $(((h + p) % POOLS))
            done
            printf ']}'
        done
        printf '\n]}]}\n'
    } > "$dir/envoy/rds.json"
    # providersThrottleDuration: Traefik's minimum time between two applied
    # configurations (2 s by default, kept unless TRAEFIK_THROTTLE says).
    cat > "$dir/traefik/traefik.yml" <<CONF
global: {checkNewVersion: false, sendAnonymousUsage: false}
log: {level: ERROR}
entryPoints:
  web: {address: "127.0.0.1:$TRAEFIK_PORT"}
serversTransport:
  maxIdleConnsPerHost: 64
  forwardingTimeouts: {dialTimeout: 5s}
providers:
  providersThrottleDuration: ${TRAEFIK_THROTTLE:-2s}
  file: {directory: "$dir/traefik/dyn", watch: true}
CONF
    {
        echo "http:"
        echo "  services:"
        for p in $(seq 0 $((POOLS - 1))); do echo "    u$p: {loadBalancer: {servers: [{url: \"http://127.0.0.2:$UP_PORT\"}]}}"; done
        echo "  routers:"
        for h in $(seq 0 $((hosts - 1))); do
            for p in 0 1 2 3 4; do
                printf '    h%sp%s: {entryPoints: [web], rule: "Host(`host%s.example.com`) && PathPrefix(`/p%s`)", service: u%s}\n' "$h" "$p" "$h" "$p" $(((h + p) % POOLS))
            done
        done
    } > "$dir/traefik/dyn/routes.yml"
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
