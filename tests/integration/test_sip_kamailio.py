"""Two hotline nodes behind a real Kamailio proxy (Debian's kamailio 5.6): the deployment an office with
more lines than one box would run.

Kamailio authenticates callers with digest, spreads calls over the nodes with its ``dispatcher`` module
(round robin) and, when a node answers 503 (its admission control refused the call), tries the next
node. SIPp plays the caller. See the README, "SIP", for the configuration this test uses.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.test_sip_calls import make_hotline
from tools.sipp import ensure_debian_tool, ensure_sipp, free_port, run_sipp
from voice.transports.sip.server import SipServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.sip,
    pytest.mark.skipif(os.geteuid() != 0, reason="Kamailio and SIPp are installed from Debian as root"),
]

USER, PASSWORD = "pbx-caller", "s3cret-digest"

KAMAILIO_CFG = Path(__file__).resolve().parents[2] / "deploy/kamailio/kamailio.cfg"  # the operators' file


@dataclass
class Cluster:
    proxy_port: int
    nodes: list[SipServer]
    workdir: Path
    log: Path

    def call(self, calls: int = 1, **kw: object):
        return run_sipp("through_proxy", f"127.0.0.1:{self.proxy_port}", calls=calls, workdir=self.workdir,
                        extra=["-au", USER, "-ap", str(kw.pop("password", PASSWORD))], **kw)  # type: ignore[arg-type]

    def answered(self) -> list[int]:
        """Calls answered so far, per node."""
        return [len([c for c in node.finished if c.session is not None]) + len(node.calls) for node in self.nodes]


@pytest.fixture(scope="module")
def cluster(settings, faq_answerer, tmp_path_factory) -> Iterator[Cluster]:
    if ensure_sipp() is None or ensure_debian_tool("kamailio", "kamailio") is None:
        if os.environ.get("CI"):
            pytest.fail("SIPp or Kamailio is missing and could not be installed (make sipp)")
        pytest.skip("SIPp or Kamailio is missing and cannot be installed here")
    nodes, stores = [], []
    for i in range(2):
        folder = tmp_path_factory.mktemp(f"node{i}")
        server, store, _ = make_hotline(settings, faq_answerer, folder, tmp_path_factory.mktemp(f"audio{i}"))
        nodes.append(server)
        stores.append(store)
    workdir = tmp_path_factory.mktemp("kamailio")
    dispatcher = workdir / "dispatcher.list"
    dispatcher.write_text("".join(f"1 sip:127.0.0.1:{n.port}\n" for n in nodes))
    port = free_port()
    cfg = KAMAILIO_CFG
    defines = [f"LISTEN=udp:127.0.0.1:{port}", f'DISPATCHER_LIST="{dispatcher}"', f'PBX_USER="{USER}"',
               f'PBX_PASSWORD="{PASSWORD}"', 'NONCE_SECRET="hotline-test-nonce-secret"']
    log = workdir / "kamailio.log"
    with open(log, "w") as out:
        proxy = subprocess.Popen(["kamailio", "-f", str(cfg), *[a for d in defines for a in ("-A", d)], "-DD", "-E",
                                  "-P", str(workdir / "pid"), "-Y", str(workdir)], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while "Listening on" not in log.read_text(errors="replace") or proxy.poll() is not None:
        if proxy.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"kamailio did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    time.sleep(0.5)
    yield Cluster(port, nodes, workdir, log)
    proxy.terminate()
    proxy.wait(timeout=10)
    for node in nodes:
        node.stop()


def test_a_wrong_password_is_refused_by_the_proxy_before_any_node_sees_the_call(cluster):
    before = cluster.answered()
    result = cluster.call(password="wrong")
    assert not result.ok  # the second INVITE is challenged again: SIPp gives up
    assert cluster.answered() == before


def test_calls_are_spread_over_both_nodes_through_digest_authentication(cluster):
    before = cluster.answered()
    result = cluster.call(calls=4, rate=2)
    assert result.ok, result.output + result.errors + cluster.log.read_text(errors="replace")[-3000:]
    after = cluster.answered()
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 2]  # round robin


def test_a_node_that_refuses_with_503_hands_the_call_to_the_other_node(cluster):
    busy = cluster.nodes[0].services.runtime
    busy.scheduler.stage_s = 1.0
    gate = threading.Event()
    jobs = [busy.scheduler.submit(lambda: gate.wait(20)) for _ in range(3 * busy.scheduler.slots)]
    refused = busy.refused["wait"]
    before = cluster.answered()
    try:
        results = [cluster.call() for _ in range(2)]  # whichever node round robin picks first
    finally:
        gate.set()
        for job in jobs:
            job.future.result(timeout=20)
    assert all(r.ok for r in results), [r.output + r.errors for r in results]
    after = cluster.answered()
    assert after[0] == before[0] and after[1] - before[1] == 2  # both answered by the node with room
    assert busy.refused["wait"] >= refused + 1  # the busy node said 503 (and stored the refusal)
    assert "trying the next" in cluster.log.read_text(errors="replace")
