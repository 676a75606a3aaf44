#!/usr/bin/env python3
"""The seed's Python service, reconstructed for one benchmark only.

The project this one replaced served its app with Python's standard library: a
single-threaded http.server.HTTPServer and a BaseHTTPRequestHandler (which
answers HTTP/1.0 and closes the connection after every response), GET / with a
JSON body, GET /healthz, GET /metrics, POST /chaos in canary mode, and every
request counted and timed under a lock. This file keeps exactly that shape so
that `BenchmarkThroughputSeedPython` (e2e) can load it the way it loads the Go
service and compare the two in the same run. It listens on 127.0.0.1 only.

Configuration, as the seed read it: MODE, APP_VERSION, APP_PORT.
"""

import json
import os
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

MODE = os.environ.get("MODE", "stable")
APP_VERSION = os.environ.get("APP_VERSION", "1.0.0")
APP_PORT = int(os.environ.get("APP_PORT", "3000"))
START_TIME = time.time()

chaos_lock = threading.Lock()
chaos_state = {"mode": None, "duration": None, "rate": None}

CHAOS_VALUES = {None: 0, "slow": 1, "error": 2}
BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
metrics_lock = threading.Lock()
request_counts = {}  # (method, path, status) -> count
request_durations = {}  # path -> {"buckets": {le: count}, "sum": s, "count": n}


def get_chaos():
    with chaos_lock:
        return dict(chaos_state)


def set_chaos(state):
    with chaos_lock:
        chaos_state.update(state)


def record_request(method, path, status, seconds):
    with metrics_lock:
        key = (method, path, str(status))
        request_counts[key] = request_counts.get(key, 0) + 1
        hist = request_durations.setdefault(
            path, {"buckets": {le: 0 for le in BUCKETS}, "sum": 0.0, "count": 0})
        hist["sum"] += seconds
        hist["count"] += 1
        for le in BUCKETS:
            if seconds <= le:
                hist["buckets"][le] += 1


def exposition():
    lines = ["# TYPE http_requests_total counter"]
    with metrics_lock:
        for (method, path, status), n in sorted(request_counts.items()):
            lines.append(
                f'http_requests_total{{method="{method}",path="{path}",status_code="{status}"}} {n}')
        lines.append("# TYPE http_request_duration_seconds histogram")
        for path, hist in sorted(request_durations.items()):
            for le in BUCKETS:
                lines.append(
                    f'http_request_duration_seconds_bucket{{path="{path}",le="{le}"}} {hist["buckets"][le]}')
            lines.append(f'http_request_duration_seconds_bucket{{path="{path}",le="+Inf"}} {hist["count"]}')
            lines.append(f'http_request_duration_seconds_sum{{path="{path}"}} {hist["sum"]}')
            lines.append(f'http_request_duration_seconds_count{{path="{path}"}} {hist["count"]}')
    lines.append(f"app_uptime_seconds {time.time() - START_TIME}")
    lines.append(f"app_mode {1 if MODE == 'canary' else 0}")
    chaos = get_chaos()["mode"]
    lines.append(f"chaos_active {CHAOS_VALUES[chaos]}")
    return "\n".join(lines) + "\n"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):
        pass  # the seed left access logging to nginx

    def send_body(self, code, payload, content_type):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if MODE == "canary":
            self.send_header("X-Mode", "canary")
        self.end_headers()
        self.wfile.write(payload)
        return code

    def send_json(self, code, body):
        return self.send_body(code, json.dumps(body).encode(), "application/json")

    def do_GET(self):
        start = time.time()
        path = self.path.split("?")[0]
        status = self.handle_get(path)
        record_request("GET", path, status, time.time() - start)

    def handle_get(self, path):
        chaos = get_chaos()
        if MODE == "canary" and chaos["mode"] == "slow":
            time.sleep(chaos["duration"])
        if MODE == "canary" and chaos["mode"] == "error" and random.random() < chaos["rate"]:
            return self.send_json(500, {"error": "chaos-induced error"})
        if path == "/":
            return self.send_json(200, {
                "message": "Welcome to SwiftDeploy API",
                "mode": MODE,
                "version": APP_VERSION,
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            })
        if path == "/healthz":
            return self.send_json(200, {
                "status": "ok",
                "mode": MODE,
                "version": APP_VERSION,
                "uptime_seconds": round(time.time() - START_TIME, 2),
            })
        if path == "/metrics":
            return self.send_body(200, exposition().encode(), "text/plain; version=0.0.4")
        return self.send_json(404, {"error": "not found", "path": path})

    def do_POST(self):
        start = time.time()
        status = self.handle_post()
        record_request("POST", self.path, status, time.time() - start)

    def handle_post(self):
        if self.path != "/chaos":
            return self.send_json(404, {"error": "not found", "path": self.path})
        if MODE != "canary":
            return self.send_json(403, {"error": "chaos endpoint only available in canary mode"})
        length = int(self.headers.get("Content-Length", 0))
        try:
            data = json.loads(self.rfile.read(length))
        except json.JSONDecodeError:
            return self.send_json(400, {"error": "invalid JSON"})
        mode = data.get("mode")
        if mode == "slow":
            set_chaos({"mode": "slow", "duration": data.get("duration", 2), "rate": None})
        elif mode == "error":
            set_chaos({"mode": "error", "duration": None, "rate": data.get("rate", 0.5)})
        elif mode == "recover":
            set_chaos({"mode": None, "duration": None, "rate": None})
        else:
            return self.send_json(400, {"error": f"unknown chaos mode: {mode}"})
        return self.send_json(200, {"chaos": get_chaos()})


if __name__ == "__main__":
    server = HTTPServer(("127.0.0.1", APP_PORT), Handler)
    print(f"seed service on 127.0.0.1:{APP_PORT} (mode {MODE})", flush=True)
    server.serve_forever()
