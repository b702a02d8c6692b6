"""Network partitions: a 4-validator network whose every peer link runs through a proxy.

Node ``i`` reaches node ``j`` only through the :class:`tcpproxy.TcpProxy` link
``i->j`` (its peer WebSocket and its catch-up requests), so the test can cut,
black-hole or slow down any link.  The test itself talks to every node
directly, so it always sees what each node says.

* **2|2** — no side has the 3 votes a block needs: no block commits on either
  side (heights stop, a submitted event stays pending) and nothing forks;
  after healing, blocks resume within a bounded time and every node agrees.
* **3|1** — the three keep committing, the one does not; after healing it
  catches up, and its chain and roots equal the others'.
* **Flapping** — random cuts, drops, delays and heals every 0.2-1 s for a
  bounded period under a stream of submissions: afterwards every node holds
  the same block at every height, every acknowledged event is where it was
  promised, no one signed conflicting votes, and blocks commit again soon
  after the flapping stops.

Seeds are printed (``VCLEDGER_SEED`` replays one); figures go to ``record_figure``.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from client.trust import load_trust
from node.provision import node_toml
from tests.nodeutil import (
    FAST_NETWORK_CONSENSUS,
    Ack,
    Load,
    NetworkFiles,
    NodeProcess,
    TestIssuer,
    assert_acknowledged_present,
    assert_same_chain,
    event_status,
    evidence_at,
    fault_seed,
    fixed_key,
    free_port,
    get_json,
    head_of,
    heads_agree,
    post_event_to,
    running_nodes,
    share_cores,
    wait_until,
    write_network,
)
from tests.tcpproxy import Mode, TcpProxy

pytestmark = pytest.mark.slow

CONSENSUS = FAST_NETWORK_CONSENSUS
NODES = 4
HEAL_BOUND = 60.0
"""Seconds within which blocks must commit again after a heal (reconnect backoff is at
most 7.5 s, and rounds grow by timeout_delta while a partition lasts)."""


# -- the proxied network ----------------------------------------------------------------


def link_name(i: int, j: int) -> str:
    return f"{i}->{j}"


def proxied_network(directory: Path, proxy: TcpProxy) -> NetworkFiles:
    """A 4-validator network whose node ``i`` lists the proxy of link ``i->j`` for node ``j``.

    The proxies listen first, so the ports then picked for the nodes cannot be theirs.
    """
    for i in range(NODES):
        for j in range(NODES):
            if i != j:
                proxy.add_link(link_name(i, j), 0)  # targets set below
    ports = [free_port() for _ in range(NODES)]
    for name in proxy.links:
        proxy.retarget(name, ports[int(name.split("->")[1])])  # also links from others
    return share_cores(write_network(directory, NODES, consensus=CONSENSUS, ports=ports,
                                     peer_url=lambda i, j: proxy.links[link_name(i, j)].url))


def separate(proxy: TcpProxy, side_a: Iterable[int], side_b: Iterable[int],
             mode: Mode = Mode.CUT) -> None:
    """Set every link between the two sides, in both directions."""
    side_b = list(side_b)
    for i in side_a:
        for j in side_b:
            proxy.set(link_name(i, j), mode)
            proxy.set(link_name(j, i), mode)


def heights(urls: list[str]) -> list[int]:
    found = [head_of(url) for url in urls]
    assert None not in found, found
    return [h[0] for h in found if h is not None]


def fully_connected(urls: list[str]) -> bool:
    """Each node has a peer connection to every other (one dialled, one accepted)."""
    for url in urls:
        status, health = get_json(url + "/healthz")
        if status != 200 or (health["peers"] or 0) < 2 * (len(urls) - 1):
            return False
    return True


def submit_committed(url: str, data: bytes, node: int) -> Ack:
    status, body = post_event_to(url, data, wait=20, timeout=40)
    assert status == 200 and body["status"] == "committed", (url, body)
    return Ack(body["event_hash"], body["index"], body["height"], node)


def submit_pending(url: str, data: bytes, wait: float) -> str:
    """Submit with ``?wait=commit`` and require that it did not commit within ``wait``."""
    status, body = post_event_to(url, data, wait=wait, timeout=wait + 20)
    assert status == 202 and body["status"] == "pending", (url, body)
    event_hash: str = body["event_hash"]
    return event_hash


def time_to_progress(urls: list[str], beyond: int, started: float) -> float:
    """Wait until some node commits a block above ``beyond``; seconds since ``started``."""
    wait_until(lambda: max(heights(urls)) > beyond, timeout=HEAL_BOUND,
               what=f"a block above height {beyond} after healing", interval=0.02)
    return time.monotonic() - started


def check_final_state(urls: list[str], acks: list[Ack]) -> int:
    """Agreement at the end: one head, the same block at every height, every acknowledged
    event in place, no evidence of equivocation.  Returns the common height."""
    wait_until(lambda: heads_agree(urls), timeout=HEAL_BOUND, what="all nodes at one head")
    chains = assert_same_chain(urls)
    assert assert_acknowledged_present(urls, acks, chains[0]) == len(acks)
    for url in urls:
        assert evidence_at(url) == [], url
    return len(chains[0])


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    with TcpProxy() as running:
        yield running


@pytest.fixture
def nodes(proxy: TcpProxy, tmp_path: Path) -> Iterator[tuple[NetworkFiles, list[NodeProcess]]]:
    network = proxied_network(tmp_path / "net", proxy)
    with running_nodes([n.config for n in network.nodes], tmp_path, timeout=60) as running:
        urls = [n.url for n in running]
        wait_until(lambda: fully_connected(urls), timeout=30,
                   what="every node connected to every other through the proxies")
        yield network, running
        for node in running:
            assert "evidence:" not in node.log_text()
            assert "Traceback" not in node.log_text(), node.log_text()


def registered_issuer(network: NetworkFiles, urls: list[str], seed: int) -> TestIssuer:
    """Register through the first node and wait until every node has committed it.

    A node one block behind would otherwise refuse the issuer's events as
    ``unknown_issuer`` if a partition cuts it off before that block reaches it.
    """
    issuer = TestIssuer(fixed_key(f"partition issuer {seed}"), network.genesis.origin)
    registration = submit_committed(urls[0], issuer.register(network.governance).encoded, 0)
    wait_until(lambda: all(event_status(url, registration.event_hash) == "committed"
                           for url in urls),
               timeout=30, what="the issuer's registration committed on every node")
    return issuer


# -- the proxy itself -------------------------------------------------------------------


def test_proxy_passes_delays_drops_and_cuts(proxy: TcpProxy) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        def echo() -> None:
            while True:
                try:
                    connection, _ = server.accept()
                except OSError:
                    return
                threading.Thread(target=_echo, args=(connection,), daemon=True).start()

        threading.Thread(target=echo, daemon=True).start()
        link = proxy.add_link("echo", server.getsockname()[1])
        client = socket.create_connection(("127.0.0.1", link.listen_port), timeout=5)
        client.sendall(b"ping")
        assert client.recv(16) == b"ping"

        proxy.set("echo", Mode.DELAY, 0.2)
        started = time.monotonic()
        client.sendall(b"slow")
        assert client.recv(16) == b"slow"
        assert time.monotonic() - started >= 0.4  # 0.2 s each way

        proxy.set("echo", Mode.DROP)
        client.sendall(b"lost")
        client.settimeout(0.5)
        with pytest.raises(TimeoutError):
            client.recv(16)
        proxy.set("echo", Mode.PASS)  # a stream that lost bytes is reset, never resumed
        with pytest.raises(ConnectionResetError):
            client.recv(16)

        bulk = socket.create_connection(("127.0.0.1", link.listen_port), timeout=5)
        payload = bytes(range(256)) * 4096  # 1 MiB: more than the proxy buffers at once
        sender = threading.Thread(target=bulk.sendall, args=(payload,), daemon=True)
        sender.start()
        received = bytearray()
        while len(received) < len(payload):
            received += bulk.recv(65536)
        sender.join()
        assert received == payload

        proxy.set("echo", Mode.CUT)
        assert proxy.open_connections("echo") == 0
        with pytest.raises(ConnectionResetError):
            bulk.recv(16)
        with (pytest.raises(ConnectionResetError),  # at connect or at the first read
              socket.create_connection(("127.0.0.1", link.listen_port), timeout=5) as late):
            late.recv(16)
        for sock in (client, bulk):
            sock.close()


def _echo(connection: socket.socket) -> None:
    with connection, contextlib.suppress(OSError):  # the proxy resets some connections
        while data := connection.recv(65536):
            connection.sendall(data)


# -- 2|2 --------------------------------------------------------------------------------


@pytest.mark.timeout(1200)  # --long runs the full size
def test_two_two_partition_halts_without_forking_and_recovers(
        proxy: TcpProxy, nodes: tuple[NetworkFiles, list[NodeProcess]], long_mode: bool,
        record_figure: Callable[..., None]) -> None:
    network, running = nodes
    seed = fault_seed("2|2 partition")
    rng = random.Random(seed)
    urls = [n.url for n in running]
    issuer = registered_issuer(network, urls, seed)
    acks: list[Ack] = []
    heal_times: list[float] = []
    cycles = 4 if long_mode else 1
    for cycle in range(cycles):
        side_a = sorted(rng.sample(range(NODES), 2))
        side_b = [i for i in range(NODES) if i not in side_a]
        acks.append(submit_committed(urls[side_a[0]], issuer.issue(f"before {cycle}").encoded,
                                     side_a[0]))
        separate(proxy, side_a, side_b)
        at_cut = max(heights(urls))
        # Each side gets an event; neither may commit it.  The waits also let a block
        # whose precommits crossed just before the cut land.
        stuck = [submit_pending(urls[side[0]], issuer.issue(f"stuck {cycle}/{k}").encoded, 3.0)
                 for k, side in enumerate((side_a, side_b))]
        settled = heights(urls)
        assert max(settled) <= at_cut + 1, (at_cut, settled)
        submit_pending(urls[side_b[1]], issuer.issue(f"stuck {cycle}/late").encoded, 2.0)
        assert max(heights(urls)) == max(settled), "a block committed without a quorum"
        for event_hash in stuck:
            assert {event_status(url, event_hash) for url in urls} <= {"pending", None}
        healed = time.monotonic()
        proxy.set_all(Mode.PASS)
        heal_times.append(time_to_progress(urls, max(settled), healed))
        for event_hash in stuck:
            wait_until(lambda: all(event_status(u, event_hash) == "committed"  # noqa: B023
                                   for u in urls),
                       timeout=HEAL_BOUND, what=f"the stuck events commit (seed {seed})")
    height = check_final_state(urls, acks)
    print(f"2|2: {cycles} partitions, heal to progress {[round(t, 2) for t in heal_times]} s, "
          f"height {height}")
    record_figure("2|2 partitions survived", cycles, seed=seed)
    record_figure("2|2 heal to progress, max s", round(max(heal_times), 2), seed=seed,
                  all=[round(t, 2) for t in heal_times])


# -- 3|1 --------------------------------------------------------------------------------


@pytest.mark.timeout(1200)  # --long runs the full size
def test_three_one_partition_majority_commits_and_the_one_catches_up(
        proxy: TcpProxy, nodes: tuple[NetworkFiles, list[NodeProcess]], long_mode: bool,
        record_figure: Callable[..., None]) -> None:
    network, running = nodes
    seed = fault_seed("3|1 partition")
    rng = random.Random(seed)
    urls = [n.url for n in running]
    issuer = registered_issuer(network, urls, seed)
    acks: list[Ack] = []
    catch_up_times: list[float] = []
    cycles = 4 if long_mode else 1
    for cycle in range(cycles):
        alone = rng.randrange(NODES)
        majority = [i for i in range(NODES) if i != alone]
        separate(proxy, [alone], majority)
        stranded = submit_pending(urls[alone], issuer.issue(f"alone {cycle}").encoded, 2.0)
        alone_height = heights(urls)[alone]
        for k in range(rng.randint(3, 6)):
            node = rng.choice(majority)
            acks.append(submit_committed(urls[node], issuer.issue(f"three {cycle}/{k}").encoded,
                                         node))
        now = heights(urls)
        assert now[alone] == alone_height, "the isolated node committed a block alone"
        assert min(now[i] for i in majority) > alone_height
        healed = time.monotonic()
        proxy.set_all(Mode.PASS)
        target = max(now)
        wait_until(lambda: heights(urls)[alone] >= target, timeout=HEAL_BOUND,  # noqa: B023
                   what=f"node {alone} catching up (seed {seed})", interval=0.02)
        catch_up_times.append(time.monotonic() - healed)
        # The event the isolated node admitted is not lost: it reaches a block once
        # that node proposes again (or its gossip reaches the others).
        wait_until(lambda: all(event_status(u, stranded) == "committed"  # noqa: B023
                               for u in urls),
                   timeout=HEAL_BOUND, what=f"the isolated node's event commits (seed {seed})")
    height = check_final_state(urls, acks)
    print(f"3|1: {cycles} partitions, catch-up {[round(t, 2) for t in catch_up_times]} s, "
          f"height {height}")
    record_figure("3|1 partitions survived", cycles, seed=seed)
    record_figure("3|1 heal to caught up, max s", round(max(catch_up_times), 2), seed=seed,
                  all=[round(t, 2) for t in catch_up_times])


# -- flapping ---------------------------------------------------------------------------


def flap(proxy: TcpProxy, rng: random.Random, seconds: float) -> dict[str, int]:
    """Every 0.2-1 s for ``seconds``: split the nodes at random (2|2, 3|1, 1|1|2 as
    cut or black-holed links), heal everything, or switch 1-3 random links to a random
    mode.  Returns how often each kind of change was made."""
    counts: dict[str, int] = {}
    names = sorted(proxy.links)
    deadline = time.monotonic() + seconds
    pause = threading.Event()
    while time.monotonic() < deadline:
        pause.wait(rng.uniform(0.2, 1.0))  # the flapping schedule itself
        roll = rng.random()
        if roll < 0.25:
            order = rng.sample(range(NODES), NODES)
            cut_at = rng.randint(1, NODES - 1)
            mode = rng.choice([Mode.CUT, Mode.CUT, Mode.DROP])
            separate(proxy, order[:cut_at], order[cut_at:], mode)
            kind = f"partition {min(cut_at, NODES - cut_at)}|{max(cut_at, NODES - cut_at)}"
        elif roll < 0.4:
            proxy.set_all(Mode.PASS)
            kind = "heal all"
        else:
            for name in rng.sample(names, rng.randint(1, 3)):
                mode = rng.choices([Mode.PASS, Mode.CUT, Mode.DROP, Mode.DELAY],
                                   weights=[3, 3, 1, 2])[0]
                proxy.set(name, mode, rng.uniform(0.02, 0.4) if mode is Mode.DELAY else 0.0)
            kind = "single links"
        counts[kind] = counts.get(kind, 0) + 1
    return counts


@pytest.mark.timeout(1200)  # --long runs the full size
def test_flapping_links_keep_safety_and_recover(
        proxy: TcpProxy, nodes: tuple[NetworkFiles, list[NodeProcess]], long_mode: bool,
        record_figure: Callable[..., None]) -> None:
    network, running = nodes
    seed = fault_seed("flapping links")
    rng = random.Random(seed)
    urls = [n.url for n in running]
    trust = load_trust(network.trust)
    issuer = registered_issuer(network, urls, seed)
    seconds = 90.0 if long_mode else 12.0
    with Load(urls, issuer, seed=seed, writers=2, wait=5.0, threshold=trust.threshold) as load:
        before = load.ack_count()
        start_height = max(heights(urls))
        counts = flap(proxy, rng, seconds)
        during = load.ack_count() - before
        at_stop = max(heights(urls))
        healed = time.monotonic()
        proxy.set_all(Mode.PASS)
        heal_time = time_to_progress(urls, at_stop, healed)
        target = load.ack_count() + 3
        wait_until(lambda: load.ack_count() >= target, timeout=HEAL_BOUND,
                   what=f"acknowledged commits after the flapping (seed {seed})")
    assert not load.unexpected, load.unexpected
    height = check_final_state(urls, load.acks)
    changes = sum(counts.values())
    print(f"flapping {seconds:.0f} s: {changes} changes {counts}, blocks during "
          f"{at_stop - start_height}, acks during {during}, heal to progress "
          f"{heal_time:.2f} s, acknowledged {len(load.acks)}, height {height}")
    record_figure("flapping changes", changes, seed=seed, seconds=seconds, **counts)
    record_figure("flapping: partitions survived",
                  sum(n for kind, n in counts.items() if kind.startswith("partition")), seed=seed)
    record_figure("flapping: blocks committed while flapping", at_stop - start_height,
                  seed=seed)
    record_figure("flapping: events acknowledged and found", len(load.acks), seed=seed)
    record_figure("flapping: heal to progress, s", round(heal_time, 2), seed=seed)


# -- an observer cut off from the validators -----------------------------------------------


def test_an_event_an_isolated_observer_admitted_commits_after_healing(
        proxy: TcpProxy, tmp_path: Path) -> None:
    """Regression: an event admitted while the node had no peer connection was gossiped
    to no one and, on an observer (which never proposes), stayed pending forever."""
    for j in range(NODES):  # listening before any node port is picked
        proxy.add_link(link_name(NODES, j), 0)
    network = proxied_network(tmp_path / "net", proxy)
    observer_dir = network.directory / "observer"
    observer_dir.mkdir()
    (observer_dir / "genesis.toml").write_text(
        (network.nodes[0].directory / "genesis.toml").read_text())
    (observer_dir / "node.toml").write_text(node_toml(
        role="observer", key=None, listen=f"127.0.0.1:{free_port()}",
        peers=[proxy.links[link_name(NODES, j)].url for j in range(NODES)], signature_workers=1))
    configs = [n.config for n in network.nodes] + [observer_dir / "node.toml"]
    with running_nodes(configs, tmp_path, timeout=60) as running:
        urls = [n.url for n in running]
        wait_until(lambda: fully_connected(urls[:NODES]) and (head_of(urls[NODES]) or (0,))[0] > 0,
                   timeout=30, what="the validators connected and the observer following")
        issuer = registered_issuer(network, urls, 0)
        for j in range(NODES):  # the validators do not dial the observer: one way each
            proxy.set(link_name(NODES, j), Mode.CUT)
        wait_until(lambda: get_json(urls[NODES] + "/healthz")[1]["peers"] == 0, timeout=10,
                   what="the observer without peers")
        stranded = submit_pending(urls[NODES], issuer.issue("via a cut-off observer").encoded,
                                  1.0)
        proxy.set_all(Mode.PASS)
        wait_until(lambda: all(event_status(u, stranded) == "committed" for u in urls),
                   timeout=30, what="the observer's event committed after healing")
