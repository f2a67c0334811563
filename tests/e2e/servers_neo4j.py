"""A real Neo4j 5 community server for the Neo4j exporter's tests, started by
the test run on 127.0.0.1: Neo4j's own in-process harness (Maven Central's
org.neo4j.test:neo4j-harness) run by tests/servers/neo4j's main class, built
into BUILD/neo4j by tools/fetch-neo4j (tools/test-env runs it). The HTTP
connector only (Bolt off), authentication on: user `neo4j`, password
PASSWORD. Its databases live in a temporary directory that survives stop()
and start(), so a test can take the server down in the middle of an export.

Tests read the graph back with Cypher over Neo4j's own HTTP API
(POST /db/neo4j/tx/commit, basic auth), with urllib."""
import base64
import json
import os
import pathlib
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import STRATA_BIN
from servers import free_port, stop_process

USER, PASSWORD = "neo4j", "strata-pw"
BUILD = pathlib.Path(os.environ.get("STRATA_BUILD_DIR", STRATA_BIN.parent.parent))
NEO4J_DIR = pathlib.Path(os.environ.get("STRATA_NEO4J_DIR", BUILD / "neo4j"))
# A starting JVM loads some 260 jars: on a busy 2-core machine that takes a minute or two.
START_TIMEOUT = 300
JVM_OPTIONS = ["-Xmx384m", "-Xss1m", "-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError",
               # C1 only: starts about twice as fast here, and is fast enough for the tests.
               "-XX:TieredStopAtLevel=1"]


class CypherError(Exception):
    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code


class Neo4j:
    def __init__(self, workdir):
        jar = NEO4J_DIR / "strata-neo4j-server.jar"
        if not jar.exists() or not (NEO4J_DIR / "lib").is_dir():
            raise RuntimeError(f"{jar} is missing: run tools/fetch-neo4j {BUILD} (tools/test-env does)")
        self.java = shutil.which("java")
        if not self.java:
            raise RuntimeError("java is not installed (Java 17)")
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log_path = self.dir / "neo4j.out"
        self.classpath = f"{jar}:{NEO4J_DIR / 'lib'}/*"
        self.proc = None
        self.start()

    def start(self):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        log = open(self.log_path, "ab")
        offset = self.log_path.stat().st_size
        # Standard input stays open while the server should run: if the test run
        # dies, the pipe closes and the server stops by itself.
        self.proc = subprocess.Popen(
            [self.java, *JVM_OPTIONS, "-cp", self.classpath, "strata.tests.StrataNeo4jServer",
             str(self.port), str(self.dir / "db"), PASSWORD],
            stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Neo4j exited with {self.proc.returncode}:\n{self.output(offset)[-3000:]}")
            if "\nready " in "\n" + self.output(offset):
                return
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"Neo4j did not start within {START_TIMEOUT}s:\n{self.output(offset)[-3000:]}")

    def output(self, offset=0):
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def stop(self):
        """Stops the JVM (SIGTERM: Neo4j shuts down cleanly) and waits until it is gone."""
        if self.proc is None or self.proc.poll() is not None:
            return
        stop_process(self.proc, 120)
        if self.proc.stdin:
            self.proc.stdin.close()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def url(self):
        return f"http://{USER}@127.0.0.1:{self.port}"

    def cypher(self, statement, password=PASSWORD, **parameters):
        """Runs one Cypher statement in its own transaction; returns the rows
        (lists of values). Raises CypherError with Neo4j's code."""
        body = json.dumps({"statements": [{"statement": statement, "parameters": parameters}]}).encode()
        auth = base64.b64encode(f"{USER}:{password}".encode()).decode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/db/neo4j/tx/commit", body,
                                         {"Content-Type": "application/json", "Accept": "application/json",
                                          "Authorization": f"Basic {auth}"})
        try:
            with urllib.request.urlopen(request, timeout=60) as r:
                answer = json.load(r)
        except urllib.error.HTTPError as e:
            answer = json.loads(e.read() or b"{}")
            if not answer.get("errors"):
                raise
        if answer.get("errors"):
            e = answer["errors"][0]
            raise CypherError(e["code"], e["message"])
        return [d["row"] for d in answer["results"][0]["data"]]

    def wipe(self):
        """Deletes every node and relationship (constraints stay)."""
        for _ in range(1000):
            if self.cypher("MATCH (n) WITH n LIMIT 5000 DETACH DELETE n RETURN count(*)")[0][0] == 0:
                return
        raise AssertionError("the graph did not empty")


@pytest.fixture(scope="session")
def neo4j(tmp_path_factory):
    server = Neo4j(tmp_path_factory.mktemp("neo4j"))
    yield server
    server.stop()
