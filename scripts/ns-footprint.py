#!/usr/bin/env python3
"""The name server of `axon up` with N echo agents: its RSS and descriptors by type 6 s after
AXON-UP-READY, `axon ps --json` three times, and the SIGTERM shutdown; one JSON line on stdout and
appended to /tmp/scale/results.jsonl (docs/performance.md, "Name-server memory and the sysinfo
sweep"). usage: scripts/ns-footprint.py BIN N LABEL. Take `flock /work/scale.lock` above 300
agents on a shared machine, and check `free -g` first."""
import json, os, signal, statistics, subprocess, sys, time

bin_, n, label = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.makedirs("/tmp/scale", exist_ok=True)
manifest = f"/tmp/scale/echo-{n}.toml"
with open(manifest, "w") as f:
    for i in range(n):
        f.write(f'[[agent]]\nname = "e{i:05d}"\nkind = "echo"\n\n')
log = open(f"/tmp/scale/{label}-{n}.log", "w")
t0 = time.time()
up = subprocess.Popen([bin_, "up", manifest], stdout=subprocess.PIPE, stderr=log, text=True)
endpoint = key = None
for line in up.stdout:
    if line.startswith("AXON-UP-READY"):
        _, endpoint, key = line.split()
        break
ready = time.time() - t0
env = dict(os.environ, AXON_NAMESERVER=endpoint, AXON_KEY_FILE=key)
def cli(*args):
    return subprocess.run([bin_, *args], env=env, capture_output=True, text=True)
status = json.loads(cli("status", "--json").stdout)
ns = status["supervisor"]["pid"]
time.sleep(6)  # idle connections close after 2 s; let renewals settle
def rss(pid):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS"):
            return int(l.split()[1]) / 1024
def fds(pid):
    kinds = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            t = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        k = "socket" if t.startswith("socket:") else "pidfd" if "pidfd" in t else "proc" if t.startswith("/proc") else "other"
        kinds[k] = kinds.get(k, 0) + 1
    return kinds
threads = len(os.listdir(f"/proc/{ns}/task"))
m_rss, m_fds = rss(ns), fds(ns)
times = []
rows = None
for _ in range(3):
    t = time.time()
    out = cli("ps", "--json")
    times.append(time.time() - t)
    rows = json.loads(out.stdout)
with_counts = sum(1 for r in rows if r.get("msgs_in") is not None)
running = sum(1 for r in rows if r["state"] == "running")
m_rss2 = rss(ns)
t = time.time()
up.send_signal(signal.SIGTERM)
try:
    up.wait(timeout=300)
except subprocess.TimeoutExpired:
    up.kill()
stop = time.time() - t
res = dict(label=label, n=n, ready_s=round(ready, 2), ns_rss_mib=round(m_rss, 1), ns_rss_after_ps_mib=round(m_rss2, 1),
           fds=m_fds, threads=threads, ps_s=[round(x, 3) for x in times], ps_median_s=round(statistics.median(times), 3),
           rows=len(rows), running=running, rows_with_counts=with_counts, shutdown_s=round(stop, 2),
           load=open("/proc/loadavg").read().split()[:3])
print(json.dumps(res))
with open("/tmp/scale/results.jsonl", "a") as f:
    f.write(json.dumps(res) + "\n")
