#!/usr/bin/env python3
"""batchout against its peers, side by side in one run, on one Azurite.

Workloads (sizes shrink with --smoke):
  W1  one 1 GiB file, up and down
  W2  2,000 files x 64 KiB in 20 folders: up, list, down
  W3  listing 20,000 blobs
  W4  a log growing by 100 lines/s for 30 s, tracked at 1 s intervals
  W5  the local store against `cp -r` of the W2 tree

Tools: batchout (release build), the Python SDK (8 workers), the JavaScript SDK,
curl (raw HTTP: the ceiling of the request pattern; W1 one request per file, W2
8 in parallel) and cp (W5). For each workload and tool it prints the median of
the runs, the ratio of its time to batchout's, client CPU-seconds and peak RSS
(from wait4), server CPU-seconds (Azurite's /proc/PID/stat) and the number of
storage requests (Azurite's access log).
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATCHOUT = Path(os.environ.get("BATCHOUT_BIN", ROOT / "target/release/batchout"))
PYTHON = ROOT / ".venv/bin/python"
PEERS = ROOT / "bench/peers"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CLK_TCK = os.sysconf("SC_CLK_TCK")
MiB = 1024 * 1024


class Azurite:
    """Azurite on a free port, with its access log (one line per request) in a file."""

    def __init__(self, work: Path):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.log_path = work / "azurite-access.log"
        data = work / "azurite-data"
        data.mkdir()
        self.log = open(self.log_path, "wb")
        main = ROOT / "node_modules/azurite/dist/src/blob/main.js"
        self.proc = subprocess.Popen(
            ["node", str(main), "--blobHost", "127.0.0.1", "--blobPort", str(self.port),
             "--location", str(data), "--skipApiVersionCheck", "--disableTelemetry"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise SystemExit("Azurite did not start")
                time.sleep(0.1)
        self.endpoint = f"http://127.0.0.1:{self.port}/devstoreaccount1"
        self.connection_string = (
            f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={KEY};"
            f"BlobEndpoint={self.endpoint};")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def requests(self) -> int:
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return sum(1 for line in f if b'" ' in line and b"HTTP/1.1" in line)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def run(cmd, env, cwd, server: Azurite | None, stdout=subprocess.DEVNULL):
    """Runs one command; returns wall, client CPU, peak RSS, server CPU, requests."""
    cpu0 = server.cpu_seconds() if server else 0.0
    req0 = server.requests() if server else 0
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=stdout, stderr=subprocess.PIPE, shell=isinstance(cmd, str))
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if status != 0:
        raise SystemExit(f"failed ({status}): {cmd}\n{err}")
    time.sleep(0.3)  # let Azurite write its access log
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss": usage.ru_maxrss / 1024,
        "server_cpu": (server.cpu_seconds() - cpu0) if server else 0.0,
        "requests": (server.requests() - req0) if server else 0,
    }


class Bench:
    def __init__(self, args, work: Path, azurite: Azurite):
        self.args = args
        self.work = work
        self.az = azurite
        self.env = dict(os.environ, AZURE_STORAGE_CONNECTION_STRING=azurite.connection_string,
                        BATCHOUT_STORE=azurite.endpoint)
        self.env.pop("AZ_BATCH_JOB_ID", None)
        self.env.pop("AZ_BATCH_TASK_ID", None)
        self.results = []  # (workload, phase, tool, [runs], units, amount)
        self.counter = 0

    # --- helpers -------------------------------------------------------
    def job(self, name):
        self.counter += 1
        job = f"b{self.counter}-{name}"
        subprocess.run([str(BATCHOUT), "prepare", "--job", job], env=self.env, check=True, stdout=subprocess.DEVNULL)
        return job, f"job-{job}"

    def sas(self, job):
        url = subprocess.run([str(BATCHOUT), "sas", "--job", job, "--permissions", "racwdl"], env=self.env,
                             check=True, capture_output=True, text=True).stdout.strip()
        base, query = url.split("?", 1)
        return base, query

    def py(self, *args):
        return [str(PYTHON), str(PEERS / "py_peer.py"), *args]

    def js(self, *args):
        return ["node", str(PEERS / "js_peer.mjs"), *args]

    def record(self, workload, phase, units, amount, tools):
        """tools: list of (name, make) where make(rep) -> (cmd, cwd, setup_fn|None)."""
        runs = {name: [] for name, _ in tools}
        for rep in range(self.args.runs):
            for name, make in tools:  # alternating tools within each repetition
                cmd, cwd = make(rep)
                runs[name].append(run(cmd, self.env, cwd, self.az if workload != "W5" else None))
        self.results.append((workload, phase, units, amount, runs))
        self.print_block(workload, phase, units, amount, runs)

    def print_block(self, workload, phase, units, amount, runs):
        base = statistics.median(r["wall"] for r in runs["batchout"])
        print(f"\n{workload} {phase}")
        print(f"| tool | median s | vs batchout | {units}/s | client CPU s | peak RSS MiB | server CPU s | requests |")
        print("|---|---|---|---|---|---|---|---|")
        for name, rs in runs.items():
            med = lambda k: statistics.median(r[k] for r in rs)
            wall = med("wall")
            print(f"| {name} | {wall:.2f} | {wall / base:.2f} | {amount / wall:.1f} | {med('cpu'):.2f} | "
                  f"{med('rss'):.0f} | {med('server_cpu'):.2f} | {med('requests'):.0f} |")
        sys.stdout.flush()

    # --- data ----------------------------------------------------------
    def make_file(self, path: Path, size: int):
        rng = bytearray(os.urandom(0))  # deterministic below
        seed = 0x9E3779B97F4A7C15
        block = bytearray()
        x = seed
        while len(block) < MiB:
            x ^= (x << 13) & 0xFFFFFFFFFFFFFFFF
            x ^= x >> 7
            x ^= (x << 17) & 0xFFFFFFFFFFFFFFFF
            block += x.to_bytes(8, "little")
        with open(path, "wb") as f:
            for i in range(size // MiB):
                block[:8] = i.to_bytes(8, "little")
                f.write(block)
            f.write(block[: size % MiB])
        del rng

    def make_tree(self, root: Path, folders: int, per_folder: int, size: int):
        data = bytes((i * 131 + 7) % 251 for i in range(size))
        for d in range(folders):
            folder = root / f"folder{d:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            for n in range(per_folder):
                (folder / f"file{n:04d}.bin").write_bytes(f"{d}/{n}".encode() + data[16:])

    # --- workloads -----------------------------------------------------
    def w1(self):
        size = self.args.w1_mib * MiB
        data = self.work / "w1"
        data.mkdir()
        big = data / "big.bin"
        self.make_file(big, size)
        blob = "t/$TaskOutput/big.bin"
        quoted = urllib.parse.quote(blob)

        def up(tool):
            def make(rep):
                job, container = self.job(f"w1up-{tool}-{rep}")
                if tool == "batchout":
                    return [str(BATCHOUT), "save", "--job", job, "--task", "t", "big.bin"], data
                if tool == "python":
                    return self.py("up-file", container, blob, str(big)), data
                if tool == "javascript":
                    return self.js("up-file", container, blob, str(big)), data
                base, sas = self.sas(job)
                return (f"curl -sf -X PUT -T big.bin -H 'x-ms-blob-type: BlockBlob' -H 'x-ms-version: 2021-12-02' "
                        f"'{base}/{quoted}?{sas}'"), data
            return make

        tools = ["batchout", "python", "javascript", "curl"]
        self.record("W1", f"upload {self.args.w1_mib} MiB", "MB", size / 1e6, [(t, up(t)) for t in tools])
        job, container = self.job("w1src")
        subprocess.run([str(BATCHOUT), "save", "--job", job, "--task", "t", "big.bin"], env=self.env, cwd=data,
                       check=True, stdout=subprocess.DEVNULL)
        base, sas = self.sas(job)

        def down(tool):
            def make(rep):
                out = data / f"down-{tool}-{rep}.bin"
                if tool == "batchout":
                    return [str(BATCHOUT), "get", "--job", job, "--task", "t", "big.bin", "-o", str(out)], data
                if tool == "python":
                    return self.py("down-file", container, blob, str(out)), data
                if tool == "javascript":
                    return self.js("down-file", container, blob, str(out)), data
                return f"curl -sf -o '{out}' '{base}/{quoted}?{sas}'", data
            return make

        self.record("W1", f"download {self.args.w1_mib} MiB", "MB", size / 1e6, [(t, down(t)) for t in tools])
        shutil.rmtree(data)

    def w2(self):
        folders, per = 20, self.args.w2_files // 20
        count = folders * per
        data = self.work / "w2"
        tree = data / "tree"
        self.make_tree(tree, folders, per, 64 * 1024)
        prefix = "t/$TaskOutput/"
        self.tree = tree

        def up(tool):
            def make(rep):
                job, container = self.job(f"w2up-{tool}-{rep}")
                if tool == "batchout":
                    return [str(BATCHOUT), "save", "--job", job, "--task", "t", "--pattern", "tree/**/*"], data
                if tool == "python":
                    return self.py("up-tree", container, prefix, str(tree)), data
                if tool == "javascript":
                    return self.js("up-tree", container, prefix, str(tree)), data
                base, sas = self.sas(job)
                return (f"cd tree && find . -type f | sed 's|^./||' | xargs -P 8 -I{{}} curl -sf -X PUT -T {{}} "
                        f"-H 'x-ms-blob-type: BlockBlob' -H 'x-ms-version: 2021-12-02' "
                        f"'{base}/t/%24TaskOutput/{{}}?{sas}'"), data
            return make

        tools = ["batchout", "python", "javascript", "curl"]
        self.record("W2", f"upload {count} x 64 KiB", "files", count, [(t, up(t)) for t in tools])
        job, container = self.job("w2src")
        subprocess.run([str(BATCHOUT), "save", "--job", job, "--task", "t", "--pattern", "tree/**/*"], env=self.env,
                       cwd=data, check=True, stdout=subprocess.DEVNULL)
        self.w2_source = (job, container)

        def listing(tool):
            def make(rep):
                if tool == "batchout":
                    return [str(BATCHOUT), "ls", "--job", job, "--task", "t", "--kind", "TaskOutput"], data
                if tool == "python":
                    return self.py("list", container, prefix), data
                return self.js("list", container, prefix), data
            return make

        self.record("W2", f"list {count}", "names", count, [(t, listing(t)) for t in ["batchout", "python", "javascript"]])
        base, sas = self.sas(job)

        def down(tool):
            def make(rep):
                dest = data / f"down-{tool}-{rep}"
                if tool == "batchout":
                    return [str(BATCHOUT), "download", "--job", job, "--task", "t", "--kind", "TaskOutput",
                            "--dest", str(dest)], data
                if tool == "python":
                    return self.py("down-tree", container, prefix, str(dest)), data
                if tool == "javascript":
                    return self.js("down-tree", container, prefix, str(dest)), data
                return (f"cd tree && find . -type f | sed 's|^./||' | xargs -P 8 -I{{}} sh -c "
                        f"'mkdir -p \"{dest}/$(dirname {{}})\" && curl -sf -o \"{dest}/{{}}\" "
                        f"\"{base}/t/%24TaskOutput/{{}}?{sas}\"'"), data
            return make

        self.record("W2", f"download {count} x 64 KiB", "files", count, [(t, down(t)) for t in tools])

    def w3(self):
        count = self.args.w3_names
        data = self.work / "w3"
        tree = data / "names"
        self.make_tree(tree, 20, count // 20, 1)
        job, container = self.job("w3")
        subprocess.run([str(BATCHOUT), "save", "--job", job, "--task", "t", "--pattern", "names/**/*"], env=self.env,
                       cwd=data, check=True, stdout=subprocess.DEVNULL)
        prefix = "t/$TaskOutput/"

        def listing(tool):
            def make(rep):
                if tool == "batchout":
                    return [str(BATCHOUT), "ls", "--job", job, "--task", "t", "--kind", "TaskOutput"], data
                if tool == "python":
                    return self.py("list", container, prefix), data
                return self.js("list", container, prefix), data
            return make

        self.record("W3", f"list {count}", "names", count, [(t, listing(t)) for t in ["batchout", "python", "javascript"]])

    def w4(self):
        seconds = self.args.w4_seconds
        data = self.work / "w4"
        data.mkdir()
        writer = (f"python3 -c \"import time,sys\nf=open(sys.argv[1],'a')\nfor s in range({seconds}):\n"
                  f"  t=time.time()\n  for i in range(100): f.write('%d line %d of the log\\n' % (s, i)); f.flush(); "
                  f"time.sleep(0.01)\n\" ")

        def track(tool):
            def make(rep):
                job, container = self.job(f"w4-{tool}-{rep}")
                log = data / f"log-{tool}-{rep}.txt"
                log.write_text("")
                # The writer runs beside the tracker; the tracker's own cost is measured.
                subprocess.Popen(writer + str(log), shell=True, cwd=data)
                if tool == "batchout":
                    return ([str(BATCHOUT), "track", "--job", job, "--task", "t", "--kind", "TaskLog", "--interval",
                             "1s", log.name, "--", "sleep", str(seconds + 1)], data)
                blob = f"t/$TaskLog/{log.name}"
                if tool == "python":
                    return self.py("track", container, blob, str(log), str(seconds)), data
                return self.js("track", container, blob, str(log), str(seconds)), data
            return make

        self.record("W4", f"track a log {seconds} s", "s", seconds,
                    [(t, track(t)) for t in ["batchout", "python", "javascript"]])

    def w5(self):
        tree = self.tree
        data = tree.parent
        size = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())

        def copy(tool):
            def make(rep):
                dest = self.work / f"w5-{tool}-{rep}"
                if tool == "batchout":
                    return [str(BATCHOUT), "save", "--store", str(dest), "--job", "j", "--task", "t", "--pattern",
                            "tree/**/*"], data
                return ["cp", "-r", str(tree), str(dest)], data
            return make

        self.record("W5", "local store vs cp -r", "MB", size / 1e6, [(t, copy(t)) for t in ["batchout", "cp"]])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one run: checks that the bench runs")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="W1,W2,W3,W4,W5")
    parser.add_argument("--json", help="write the raw figures here")
    args = parser.parse_args()
    args.w1_mib, args.w2_files, args.w3_names, args.w4_seconds = 1024, 2000, 20000, 30
    if args.smoke:
        args.runs, args.w1_mib, args.w2_files, args.w3_names, args.w4_seconds = 1, 40, 100, 200, 3
    work = Path(tempfile.mkdtemp(prefix="batchout-bench-"))
    azurite = Azurite(work)
    bench = Bench(args, work, azurite)
    try:
        print(f"# batchout bench: {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
              f"median of {args.runs}, Azurite on 127.0.0.1:{azurite.port}")
        only = args.only.split(",")
        for name in ["W1", "W2", "W3", "W4", "W5"]:
            if name in only or (name == "W5" and "W2" in only and "W5" in only):
                if name == "W5" and not hasattr(bench, "tree"):
                    bench.w2()
                getattr(bench, name.lower())()
        if args.json:
            Path(args.json).write_text(json.dumps(bench.results, indent=1, default=str))
    finally:
        azurite.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
