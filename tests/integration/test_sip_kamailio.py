"""Two hotline nodes behind a real Kamailio proxy (Debian's kamailio 5.6): the deployment an office with
more lines than one box would run.

Kamailio authenticates callers with digest, spreads calls over the nodes with its ``dispatcher`` module
(round robin) and, when a node answers 503 (its admission control refused the call), tries the next
node. The nodes challenge every INVITE themselves (digest), and Kamailio answers with the proxy's own
credentials (``uac_auth``), so only the proxy can place calls on them. Kamailio probes the nodes with
OPTIONS every second here: a stopped node leaves the set and new calls go to the other at once.
SIPp plays the caller. See the README, "SIP", for the configuration this test uses.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.test_sip_calls import _request, _status, make_hotline
from tests.softphones import wait_for_text
from tools.sipp import ensure_debian_tool, ensure_sipp, free_port, run_sipp
from voice.transports.sip.server import SipServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.sip,
    pytest.mark.skipif(os.geteuid() != 0, reason="Kamailio and SIPp are installed from Debian as root"),
]

USER, PASSWORD = "pbx-caller", "s3cret-digest"
NODE_USER, NODE_PASSWORD = "kamailio", "node-s3cret"  # the nodes' own digest (HOTLINE_SIP_USERNAME/PASSWORD)

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
        server, store, _ = make_hotline(settings, faq_answerer, folder, tmp_path_factory.mktemp(f"audio{i}"),
                                        sip_username=NODE_USER, sip_password=NODE_PASSWORD)
        nodes.append(server)
        stores.append(store)
    workdir = tmp_path_factory.mktemp("kamailio")
    dispatcher = workdir / "dispatcher.list"
    dispatcher.write_text("".join(f"1 sip:127.0.0.1:{n.port}\n" for n in nodes))
    port = free_port()
    cfg = KAMAILIO_CFG
    defines = [f"LISTEN=udp:127.0.0.1:{port}", f'DISPATCHER_LIST="{dispatcher}"', f'PBX_USER="{USER}"',
               f'PBX_PASSWORD="{PASSWORD}"', 'NONCE_SECRET="hotline-test-nonce-secret"',
               f'NODE_CREDENTIAL="{NODE_USER}:{settings.sip_realm}:{NODE_PASSWORD}"', "PING_INTERVAL=1"]
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


def test_a_node_challenges_a_call_that_does_not_come_through_the_proxy(cluster):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(_request("INVITE", "direct1"), ("127.0.0.1", cluster.nodes[0].port))
        reply = sock.recv(65535)
    assert _status(reply) == 401 and b'WWW-Authenticate: Digest realm="hotline"' in reply
    log = cluster.log.read_text(errors="replace")
    assert "challenged (401): answering with the proxy's credentials" in log  # what the calls above went through


def test_a_stopped_node_leaves_the_set_and_new_calls_go_to_the_other(cluster):
    """Last in this module: it stops node 0 for good."""
    cluster.nodes[0].stop()
    wait_for_text(lambda: cluster.log.read_text(errors="replace"),
                  f"hotline node sip:127.0.0.1:{cluster.nodes[0].port} down", 15)
    before = cluster.answered()
    result = cluster.call(calls=4, rate=4)
    assert result.ok, result.output + result.errors
    after = cluster.answered()
    assert after[1] - before[1] == 4
    # no call went to the stopped node first and waited for its timeout:
    assert "trying the next" not in cluster.log.read_text(errors="replace").split(" down: no answer")[-1]
