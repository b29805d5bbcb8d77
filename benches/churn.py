#!/usr/bin/env python3
"""One proxy under churn: a new route (host new<i>.example.com, path /v)
every INTERVAL seconds for SECONDS, each applied the way that proxy is
changed in production (Sluice: a manifest file; nginx: an include file and
`nginx -s reload`; HAProxy: a map line and a master-worker reload; Envoy:
its whole route configuration rewritten and renamed onto the file its RDS
reads from, in a watched directory, no xDS server; Traefik: a file in its
file provider's watched directory), and
probed with a new connection every millisecond until the route answers
200. Prints one TSV line per change: kind, index, propagation ms (or
"lost"), probe errors (connection failures and 5xx other than the "no such
route yet" answer)."""

import argparse
import http.client
import json
import os
import signal
import subprocess
import time


def probe(port, host, timeout=5.0):
    """The status of one GET on a new connection, and whether it failed."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request("GET", "/v/x", headers={"Host": host})
        status = c.getresponse().status
        c.close()
        return status, False
    except OSError:
        return 0, True


ENVOY_ROUTES = None


def write_renamed(path, text):
    """Write text to path atomically: a temporary file in the same
    directory (an extension the proxy does not load), then a rename."""
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def apply(args, i):
    global ENVOY_ROUTES
    host = f"new{i}.example.com"
    pool = f"u{i % args.pools}"
    if args.kind == "sluice":
        text = (
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\n"
            f"metadata: {{name: churn-{i}}}\nspec:\n  ingressClassName: sluice\n"
            f"  rules: [{{host: {host}, http: {{paths: [{{path: /v, pathType: Prefix, "
            f"backend: {{service: {{name: {pool}, port: {{number: 80}}}}}}}}]}}}}]\n"
        )
        tmp = os.path.join(args.dir, "m", f".churn-{i}.yaml.tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, os.path.join(args.dir, "m", f"churn-{i}.yaml"))
    elif args.kind == "nginx":
        with open(os.path.join(args.dir, "extra", f"churn-{i}.conf"), "w") as f:
            f.write(
                f"server {{ listen 127.0.0.1:{args.port}; server_name {host}; location /v {{ proxy_pass http://{pool}; "
                'proxy_http_version 1.1; proxy_set_header Connection ""; } }\n'
            )
        subprocess.Popen(["nginx", "-c", os.path.join(args.dir, "nginx.conf"), "-s", "reload"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elif args.kind == "envoy":
        path = os.path.join(args.dir, "envoy", "rds.json")
        if ENVOY_ROUTES is None:
            with open(path) as f:
                ENVOY_ROUTES = json.load(f)
        ENVOY_ROUTES["version_info"] = str(i + 1)
        ENVOY_ROUTES["resources"][0]["virtual_hosts"].append(
            {"name": f"new{i}", "domains": [host], "routes": [{"match": {"prefix": "/v"}, "route": {"cluster": pool}}]}
        )
        write_renamed(path, json.dumps(ENVOY_ROUTES))
    elif args.kind == "traefik":
        write_renamed(
            os.path.join(args.dir, "traefik", "dyn", f"churn-{i}.yml"),
            f"http:\n  routers:\n    new{i}: {{entryPoints: [web], rule: \"Host(`{host}`) && PathPrefix(`/v`)\", service: {pool}}}\n",
        )
    else:
        with open(os.path.join(args.dir, "routes.map"), "a") as f:
            f.write(f"{host}/v {pool}\n")
        os.kill(args.master, signal.SIGUSR2)
    return host


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kind", choices=["sluice", "nginx", "haproxy", "envoy", "traefik"], required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pools", type=int, default=10)
    p.add_argument("--master", type=int, default=0, help="HAProxy master pid")
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--interval", type=float, default=0.1)
    args = p.parse_args()
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < args.seconds:
        tick = start + i * args.interval
        time.sleep(max(0.0, tick - time.monotonic()))
        changed = time.monotonic()
        host = apply(args, i)
        errors = 0
        took = "lost"
        while time.monotonic() - changed < 5.0:
            status, failed = probe(args.port, host)
            if status == 200:
                took = f"{(time.monotonic() - changed) * 1000:.2f}"
                break
            # Before the change is live: 404 (nginx, Sluice, Envoy, Traefik) or 503 (HAProxy, no backend).
            if failed or status not in (404, 503):
                errors += 1
            time.sleep(0.001)
        print(f"{args.kind}\t{i}\t{took}\t{errors}", flush=True)
        i += 1


if __name__ == "__main__":
    main()
