"""Open pixel and click redirect under load, against a minimal Django view as the ceiling.

gunicorn serves the project on loopback (pinned to CPU 0, as many sync workers
as BENCH_TRACKING_WORKERS); wrk, pinned to CPU 1 in every run, hits in turn a
minimal Django view on the same server (the ceiling: the whole middleware
stack, no work; the endpoints skip the page middleware, see
tracking/middleware.py), the pixel and the click redirect of a real campaign (aggregate policy,
the default), BENCH_TRACKING_SECONDS each, in BENCH_TRACKING_ROUNDS interleaved
rounds; each figure is the median of its rounds. wrk keeps
BENCH_TRACKING_CONNECTIONS requests open (8: enough to saturate the workers; more
only lengthen the queue, and so the latency, at the same rate). Then the buffered hits are flushed
into PostgreSQL and compared with the responses wrk received: ``lost`` counts
hits answered but never counted. wrk counts only responses that arrived before it
stopped, so the stored counts may exceed them by at most the open connections.

Needs ``wrk`` (Debian: ``apt-get install wrk``). Environment: BENCH_DATABASE_URL,
BENCH_REDIS_URL, BENCH_TRACKING_SECONDS (default 10), BENCH_TRACKING_CONNECTIONS
(default 8), BENCH_TRACKING_ROUNDS (default 5), BENCH_TRACKING_WORKERS (default 2).
"""

import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench import database

NAME = "tracking"
ROOT = Path(__file__).resolve().parents[1]
SECONDS = int(os.environ.get("BENCH_TRACKING_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_TRACKING_ROUNDS", "5"))
CONNECTIONS = int(os.environ.get("BENCH_TRACKING_CONNECTIONS", "8"))
WORKERS = int(os.environ.get("BENCH_TRACKING_WORKERS", "2"))
SERVER_CPU = "0"
LOAD_CPU = "1"


def environment() -> dict[str, str]:
    return database.environment(
        database.database_url("BENCH_DATABASE_URL", "crier_bench_tracking"),
        redis_db=11,
        DJANGO_SETTINGS_MODULE="bench.tracking_site.settings",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare() -> tuple[int, str, str]:
    """A fresh database with one campaign; its pixel and first link as paths."""
    import redis
    from django.core.management import call_command

    database.recreate(os.environ["DATABASE_URL"])
    call_command("migrate", verbosity=0)
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()

    from bench.render import sample_body
    from campaigns.models import Layout
    from campaigns.rendering import DEFAULT_LAYOUTS
    from campaigns.services import campaign_create, campaign_render
    from delivery.messages import Addressee, CampaignMessages

    newsletter = database.bench_newsletter()
    stock = next(stock for stock in DEFAULT_LAYOUTS if stock.name == "Digest")
    layout = Layout.objects.create(newsletter=newsletter, name="Digest", mjml=stock.mjml())
    campaign = campaign_create(
        newsletter=newsletter,
        layout=layout,
        name="Bench",
        subject="Bench digest",
        body=sample_body(),
        public=True,
        created_by=None,
    )
    messages = CampaignMessages(campaign, campaign_render(campaign=campaign))
    html = messages.build(Addressee(1, 1, "reader@example.org", "Reader", {}, "All"))
    found = re.findall(re.escape(os.environ["SITE_URL"]) + r'(/t/[^"]+)', html.alternatives[0][0])
    pixel = next(url for url in found if url.startswith("/t/o/"))
    link = next(url for url in found if url.startswith("/t/c/"))
    return campaign.pk, pixel, link


class Server:
    def __init__(self) -> None:
        if not shutil.which("wrk"):
            raise SystemExit("the tracking benchmark needs wrk: apt-get install wrk")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        self.process = subprocess.Popen(
            [
                *("taskset", "-c", SERVER_CPU, gunicorn, "newsletter.wsgi:application"),
                *("--bind", f"127.0.0.1:{self.port}", "--workers", str(WORKERS)),
                *("--config", str(ROOT / "bench" / "tracking_site" / "gunicorn.py")),
                *("--log-level", "warning"),
            ],
            cwd=ROOT,
            env=os.environ,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/bench/ceiling/", timeout=2):  # noqa: S310
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.3)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, seconds: int) -> dict:
    """One pinned wrk run: requests answered, requests/s, p99 in ms, errors."""
    output = subprocess.run(
        [
            *("taskset", "-c", LOAD_CPU, "wrk", "--latency", "-t1"),
            *(f"-c{CONNECTIONS}", f"-d{seconds}s", url),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return {
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p99_ms": float(p99.group(1)) * UNITS[p99.group(2)],
        "bad": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


def build_us_per_recipient(campaign_id: int) -> dict[str, float]:
    """What tracking adds to each message: ``build_raw`` per recipient under each policy."""
    from campaigns.models import Campaign
    from campaigns.services import campaign_render
    from delivery.messages import Addressee, CampaignMessages

    campaign = Campaign.objects.select_related("newsletter").get(pk=campaign_id)
    people = [
        Addressee(n, n, f"reader{n}@example.org", f"Reader {n}", {}, "All") for n in range(2000)
    ]
    result = {}
    for policy in ("off", "aggregate", "individual"):
        campaign.newsletter.tracking_policy = policy
        messages = CampaignMessages(campaign, campaign_render(campaign=campaign))
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            for person in people:
                messages.build_raw(person)
            timings.append((time.perf_counter() - started) / len(people) * 1e6)
        result[f"build_us_{policy}"] = round(statistics.median(timings), 1)
    return result


def median(runs: list[dict]) -> dict:
    return {
        "rps": statistics.median(run["rps"] for run in runs),
        "p99_ms": statistics.median(run["p99_ms"] for run in runs),
    }


def flush_all() -> float:
    """Count every buffered hit, as beat would; returns hits counted per second."""
    from tracking import services
    from tracking.buffer import get_buffer

    started = time.perf_counter()
    counted = 0
    while get_buffer().pending():
        counted += services.flush()
    return counted / max(time.perf_counter() - started, 1e-9)


def run() -> dict:
    database.configure(environment())
    campaign_id, pixel, link = prepare()
    server = Server()
    try:
        # Warm every worker's caches; these hits must be counted like the others.
        wrk(f"{server.url}/bench/ceiling/", 2)
        answered = {"open": wrk(server.url + pixel, 2)["requests"]}
        answered["click"] = wrk(server.url + link, 2)["requests"]
        # Interleaved rounds, the median of each: a busy neighbour hurts all three alike.
        runs: dict[str, list[dict]] = {"ceiling": [], "open": [], "click": []}
        for _ in range(ROUNDS):
            for name, path in (("ceiling", "/bench/ceiling/"), ("open", pixel), ("click", link)):
                runs[name].append(wrk(server.url + path, SECONDS))
    finally:
        server.stop()
    from tracking.models import CampaignCount, Link

    flush_rate = flush_all()
    build = build_us_per_recipient(campaign_id)
    counts = CampaignCount.objects.get(campaign_id=campaign_id)
    stored_opens = counts.opens_human + counts.opens_machine
    stored_clicks = counts.clicks_human + counts.clicks_machine
    link_clicks = sum(
        human + machine
        for human, machine in Link.objects.filter(campaign_id=campaign_id).values_list(
            "clicks_human", "clicks_machine"
        )
    )
    answered["open"] += sum(run["requests"] for run in runs["open"])
    answered["click"] += sum(run["requests"] for run in runs["click"])
    ceiling, opens, clicks = (median(runs[name]) for name in ("ceiling", "open", "click"))
    lost = max(0, answered["open"] - stored_opens) + max(0, answered["click"] - stored_clicks)
    rps = min(opens["rps"], clicks["rps"])
    result = {
        "bench": "tracking",
        "rps": round(rps),
        "ceiling_rps": round(ceiling["rps"]),
        "ratio": round(rps / ceiling["rps"], 2),
        "p99_ms": round(max(opens["p99_ms"], clicks["p99_ms"]), 1),
        "lost": lost,
        "pixel_rps": round(opens["rps"]),
        "pixel_p99_ms": round(opens["p99_ms"], 1),
        "click_rps": round(clicks["rps"]),
        "click_p99_ms": round(clicks["p99_ms"], 1),
        "ceiling_p99_ms": round(ceiling["p99_ms"], 1),
        "errors": sum(run["bad"] for name in runs for run in runs[name]),
        "stored_opens": stored_opens,
        "stored_clicks": stored_clicks,
        "link_clicks_match": link_clicks == stored_clicks,
        "flush_hits_per_s": round(flush_rate),
        **build,
        "seconds_per_run": SECONDS,
        "rounds": ROUNDS,
        "connections": CONNECTIONS,
        "server_workers": WORKERS,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    return result
