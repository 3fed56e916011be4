#!/usr/bin/env python3
"""chunkvol against aws-cli, python-swiftclient and rclone on the same servers and the same bytes.

Run by Benchmarks/run.sh (which installs the peers, starts the servers, builds chunkctl in release
mode and sources Tests/servers/servers.env). Each measured command is one child process; its wall
time comes from a monotonic clock, its CPU time (user + sys) and peak resident memory from wait4's
rusage (the child and any children it waited for). Rounds alternate the order of the tools; the
tables hold medians. Every object a round writes is deleted before the next round.

Knobs (environment): BENCH_ROUNDS (3), BENCH_SIZE_MIB (1024), BENCH_DIR (/tmp/chunkvol-bench),
BENCH_APIS (saio-s3,saio-swift,rgw-s3), BENCH_PARTS (upload,restore,local), BENCH_CHUNKVOL_OPTIONS
(chunksize=64M,uploads=8), CHUNKCTL (.build/release/chunkctl).
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SIZE = int(os.environ.get("BENCH_SIZE_MIB", "1024")) * 1024 * 1024
WORK = os.environ.get("BENCH_DIR", "/tmp/chunkvol-bench")
APIS = os.environ.get("BENCH_APIS", "saio-s3,saio-swift,rgw-s3").split(",")
PARTS = os.environ.get("BENCH_PARTS", "upload,restore,local").split(",")
CV_OPTS = os.environ.get("BENCH_CHUNKVOL_OPTIONS", "chunksize=64M,uploads=8")
CHUNKCTL = os.environ.get("CHUNKCTL", os.path.join(ROOT, ".build/release/chunkctl"))
SWIFT_CLI = "/usr/bin/swift"   # python-swiftclient's CLI, not the toolchain's driver
GIB = 1024 ** 3
E = os.environ


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def measure(cmd, env=None, stdout=subprocess.DEVNULL):
    """Runs cmd; returns wall seconds, CPU seconds (user+sys), peak RSS in MiB. Fails loudly."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=subprocess.PIPE)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {err.decode(errors='replace')[-2000:]}")
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "user": ru.ru_utime, "sys": ru.ru_stime,
            "rss": ru.ru_maxrss / 1024.0}


def quiet(cmd, env=None, check=True):
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.decode(errors='replace')[-2000:]}")
    return r


def drop_file(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# ---------------------------------------------------------------- the APIs and their tools --

class API:
    def __init__(self, name):
        self.name = name
        self.s3 = name.endswith("-s3")
        env = dict(E)
        if name == "saio-s3":
            self.endpoint, ak, sk = E["SAIO_S3_ENDPOINT"], E["SAIO_S3_ACCESS_KEY"], E["SAIO_S3_SECRET_KEY"]
        elif name == "rgw-s3":
            self.endpoint, ak, sk = E["RGW_S3_ENDPOINT"], E["RGW_S3_ACCESS_KEY"], E["RGW_S3_SECRET_KEY"]
        elif name == "saio-swift":
            self.endpoint, ak, sk = E["SAIO_SWIFT_AUTH"], E["SAIO_SWIFT_USER"], E["SAIO_SWIFT_KEY"]
        else:
            raise SystemExit(f"unknown API {name}")
        # Each tool has its own bucket, so a cleanup can never touch another's objects.
        self.bucket = {t: f"bench-{t}-{name}" for t in ("chunkvol", "aws", "swift", "rclone")}
        if self.s3:
            env.update(AWS_ACCESS_KEY_ID=ak, AWS_SECRET_ACCESS_KEY=sk, AWS_DEFAULT_REGION="us-east-1",
                       AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
            env.pop("AWS_CA_BUNDLE", None)
            env.pop("AWS_PROFILE", None)
            env.update(RCLONE_CONFIG_BENCH_TYPE="s3", RCLONE_CONFIG_BENCH_PROVIDER="Other",
                       RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=ak, RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=sk,
                       RCLONE_CONFIG_BENCH_ENDPOINT=self.endpoint, RCLONE_CONFIG_BENCH_REGION="us-east-1",
                       RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE="true")
            self.peers = ["aws", "rclone"]
        else:
            env.update(ST_AUTH=self.endpoint, ST_USER=ak, ST_KEY=sk)
            env.update(RCLONE_CONFIG_BENCH_TYPE="swift", RCLONE_CONFIG_BENCH_AUTH=self.endpoint,
                       RCLONE_CONFIG_BENCH_USER=ak, RCLONE_CONFIG_BENCH_KEY=sk, RCLONE_CONFIG_BENCH_AUTH_VERSION="1")
            self.peers = ["swift", "rclone"]
        env["RCLONE_CONFIG"] = "/dev/null"
        self.env = env
        self.cache = os.path.join(WORK, f"cache-{name}")

    # chunkvol ----------------------------------------------------------------
    def cv_options(self, extra=""):
        b = self.bucket["chunkvol"]
        base = (f"backend=s3,endpoint={self.endpoint},bucket={b},region=us-east-1" if self.s3
                else f"backend=swift,endpoint={self.endpoint},container={b}")
        o = f"{base},cache={self.cache},{CV_OPTS}"
        return o + ("," + extra if extra else "")

    def chunkctl(self, *args, extra=""):
        return [CHUNKCTL, "-o", self.cv_options(extra), *args]

    def prepare(self):
        quiet(self.chunkctl("store", "create"), self.env)
        for t in self.peers:
            b = self.bucket[t]
            if self.s3:
                quiet(["aws", "--endpoint-url", self.endpoint, "s3", "mb", f"s3://{b}"], self.env, check=False)
            else:
                quiet([SWIFT_CLI, "post", b], self.env)
        self.cleanup()

    def cleanup(self, tool=None):
        """Deletes what a tool (every tool when None) left in its bucket: volume, objects, segments."""
        if tool in (None, "chunkvol"):
            quiet(self.chunkctl("rm", "bench"), self.env, check=False)
            shutil.rmtree(self.cache, ignore_errors=True)
        for t in self.peers:
            if tool not in (None, t):
                continue
            b = self.bucket[t]
            if self.s3:
                quiet(["aws", "--endpoint-url", self.endpoint, "s3", "rm", "--recursive", f"s3://{b}"], self.env, check=False)
            else:
                quiet([SWIFT_CLI, "delete", b, "bench"], self.env, check=False)

    def upload(self, tool, data):
        b = self.bucket[tool]
        if tool == "chunkvol":
            return self.chunkctl("import", "bench", data)
        if tool == "aws":
            return ["aws", "--endpoint-url", self.endpoint, "s3", "cp", "--only-show-errors", data, f"s3://{b}/bench"]
        if tool == "swift":
            return [SWIFT_CLI, "upload", "-S", "67108864", "--object-name", "bench", b, data]
        if tool == "rclone":
            return ["env", "-u", "AWS_CA_BUNDLE", "rclone", "copyto", data, f"bench:{b}/bench"]

    def download(self, tool, out):
        b = self.bucket[tool]
        if tool == "chunkvol":
            return self.chunkctl("export", "bench", out)
        if tool == "aws":
            return ["aws", "--endpoint-url", self.endpoint, "s3", "cp", "--only-show-errors", f"s3://{b}/bench", out]
        if tool == "swift":
            return [SWIFT_CLI, "download", b, "bench", "-o", out]
        if tool == "rclone":
            return ["env", "-u", "AWS_CA_BUNDLE", "rclone", "copyto", f"bench:{b}/bench", out]

    def cold_cache(self):
        """Restores start from an empty cache: the folder goes, the volume is learnt from its manifest."""
        shutil.rmtree(self.cache, ignore_errors=True)


# ---------------------------------------------------------------- runs --

def make_data():
    os.makedirs(WORK, exist_ok=True)
    path = os.path.join(WORK, f"random-{SIZE // (1024 * 1024)}M.bin")
    if not (os.path.exists(path) and os.path.getsize(path) == SIZE):
        log(f"making {SIZE} random bytes in {path}")
        with open(path + ".tmp", "wb") as f:
            left = SIZE
            while left:
                n = min(left, 8 << 20)
                f.write(os.urandom(n))
                left -= n
        os.rename(path + ".tmp", path)
    return path


def same(a, b):
    return quiet(["cmp", "-s", a, b], check=False).returncode == 0


def record(results, part, api, tool, m):
    results.setdefault((part, api, tool), []).append(m)
    log(f"  {part:8} {api:11} {tool:9} {m['wall']:7.2f} s  {SIZE / 1e6 / m['wall']:7.1f} MB/s  "
        f"cpu {m['cpu']:6.2f} s  rss {m['rss']:6.1f} MiB")


def run_api(api, data, rnd, results):
    tools = ["chunkvol"] + api.peers
    if rnd % 2 == 1:
        tools.reverse()
    out = os.path.join(WORK, "restored.bin")
    for tool in tools:
        if "upload" in PARTS or "restore" in PARTS:
            m = measure(api.upload(tool, data), api.env)
            if "upload" in PARTS:
                record(results, "upload", api.name, tool, m)
        if "restore" in PARTS:
            drop_file(out)
            if tool == "chunkvol":
                api.cold_cache()
            m = measure(api.download(tool, out), api.env)
            if not same(data, out):
                raise RuntimeError(f"{tool} on {api.name}: the restored file differs from the data")
            drop_file(out)
            record(results, "restore", api.name, tool, m)
        api.cleanup(tool)


def run_local(data, rnd, results):
    cache = os.path.join(WORK, "cache-local")
    out = os.path.join(WORK, "dd.out")
    opts = (f"backend=local,path={os.path.join(WORK, 'local-store')},cache={cache},{CV_OPTS},upload=manual")
    cmds = {
        "chunkvol": [CHUNKCTL, "-o", opts, "import", "--no-flush", "bench", data],
        "dd": ["dd", f"if={data}", f"of={out}", "bs=1M", "status=none"],
        "dd-fsync": ["dd", f"if={data}", f"of={out}", "bs=1M", "conv=fsync", "status=none"],
    }
    order = list(cmds)
    if rnd % 2 == 1:
        order.reverse()
    for tool in order:
        shutil.rmtree(cache, ignore_errors=True)
        drop_file(out)
        quiet(["sync"])
        m = measure(cmds[tool])
        record(results, "local", "cache-disk", tool, m)
    shutil.rmtree(cache, ignore_errors=True)
    drop_file(out)


def request_counts(api, data):
    """One import and one cold export with the request lines chunkctl prints."""
    api.cleanup()
    up = quiet(api.chunkctl("import", "bench", data), api.env).stdout.decode()
    api.cold_cache()
    out = os.path.join(WORK, "restored.bin")
    down = quiet(api.chunkctl("export", "bench", out), api.env).stdout.decode()
    drop_file(out)
    api.cleanup()
    return [l for l in (up + down).splitlines() if l.startswith("requests:")]


# ---------------------------------------------------------------- report --

def med(ms, key):
    return statistics.median(m[key] for m in ms)


def table(results):
    lines = []
    hdr = f"| part | API | tool | wall s | MB/s | CPU s/GiB | peak RSS MiB | throughput ratio (chunkvol / this) | CPU ratio (chunkvol / this) |"
    lines += [hdr, "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    keys = sorted(results, key=lambda k: (["upload", "restore", "local"].index(k[0]), k[1],
                                          0 if k[2] == "chunkvol" else 1, k[2]))
    summary = {}
    for part, apiname, tool in keys:
        ms = results[(part, apiname, tool)]
        wall, cpu, rss = med(ms, "wall"), med(ms, "cpu"), med(ms, "rss")
        summary[(part, apiname, tool)] = (wall, cpu * GIB / SIZE, rss)
    for k in keys:
        part, apiname, tool = k
        wall, cpu, rss = summary[k]
        cv = summary.get((part, apiname, "chunkvol"))
        ratio = cratio = ""
        if cv and tool != "chunkvol":
            ratio = f"{wall / cv[0]:.2f}"
            cratio = f"{cv[1] / cpu:.2f}" if cpu > 0 else ""
        lines.append(f"| {part} | {apiname} | {tool} | {wall:.2f} | {SIZE / 1e6 / wall:.0f} | {cpu:.2f} | {rss:.0f} | {ratio} | {cratio} |")
    return lines, summary


def targets(summary):
    out = []
    for (part, apiname, tool), (wall, cpu, rss) in sorted(summary.items()):
        if tool != "chunkvol":
            continue
        peers = {t: v for (p, a, t), v in summary.items() if p == part and a == apiname and t != "chunkvol"}
        if not peers:
            continue
        best_wall = min(v[0] for v in peers.values())
        best_cpu = min(v[1] for v in peers.values())
        thr = best_wall / wall
        if part == "upload":
            if "aws" in peers:
                r = peers["aws"][0] / wall
                out.append(f"{'MET ' if r >= 1.2 else 'MISS'} upload {apiname}: {r:.2f} x aws s3 cp (target >= 1.2)")
            out.append(f"{'MET ' if thr >= 1.0 else 'MISS'} upload {apiname}: {thr:.2f} x the best peer (target >= 1.0)")
            c = cpu / best_cpu
            out.append(f"{'MET ' if c <= 0.5 else 'MISS'} upload {apiname}: CPU {cpu:.2f} s/GiB = {c:.2f} x the best peer's {best_cpu:.2f} (target <= 0.5)")
            out.append(f"{'MET ' if rss <= 64 else 'MISS'} upload {apiname}: peak RSS {rss:.0f} MiB (target <= 64)")
        elif part == "restore":
            out.append(f"{'MET ' if thr >= 1.0 else 'MISS'} restore {apiname}: {thr:.2f} x the best peer (target >= 1.0)")
        elif part == "local":
            r = peers["dd"][0] / wall if "dd" in peers else 0
            out.append(f"{'MET ' if r >= 0.9 else 'MISS'} local write: {r:.2f} x dd bs=1M (target >= 0.9)"
                       + (f"; {peers['dd-fsync'][0] / wall:.2f} x dd conv=fsync" if "dd-fsync" in peers else ""))
    return out


def main():
    data = make_data()
    apis = [API(n) for n in APIS if n]
    log(f"chunkctl: {CHUNKCTL}; options {CV_OPTS}; {ROUNDS} rounds of {SIZE} bytes; parts {PARTS}")
    if "upload" in PARTS or "restore" in PARTS:
        for a in apis:
            a.prepare()
    results = {}
    for rnd in range(ROUNDS):
        log(f"round {rnd + 1} of {ROUNDS}")
        order = apis if rnd % 2 == 0 else list(reversed(apis))
        if "local" in PARTS and rnd % 2 == 1:
            run_local(data, rnd, results)
        if "upload" in PARTS or "restore" in PARTS:
            for a in order:
                run_api(a, data, rnd, results)
        if "local" in PARTS and rnd % 2 == 0:
            run_local(data, rnd, results)
    requests = {}
    if "upload" in PARTS or "restore" in PARTS:
        for a in apis:
            requests[a.name] = request_counts(a, data)
    lines, summary = table(results)
    print(f"\n{SIZE} bytes ({SIZE / GIB:g} GiB) of random data, {ROUNDS} rounds, medians; chunkvol options {CV_OPTS}")
    print("throughput ratio = this tool's wall time / chunkvol's (above 1: chunkvol faster); "
          "CPU ratio = chunkvol's CPU / this tool's (below 1: chunkvol uses less)\n")
    print("\n".join(lines))
    print()
    for l in targets(summary):
        print(l)
    if requests:
        print("\nrequests of one chunkvol import and one cold export:")
        for n, ls in requests.items():
            for l in ls:
                print(f"  {n}: {l}")
    with open(os.path.join(WORK, "results.json"), "w") as f:
        json.dump({"|".join(k): v for k, v in results.items()}, f, indent=1)


if __name__ == "__main__":
    main()
