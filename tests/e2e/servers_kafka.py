"""Apache Kafka for the Kafka exporter's tests: a real broker (KRaft mode,
broker and controller in one JVM, one node) started by the test run on
127.0.0.1 from the Maven Central jars that tools/fetch-kafka puts into
BUILD/kafka/lib (tests/servers/kafka/pom.xml), with its data in a temporary
directory. It can be stopped and started again mid-test (fault tests),
keeping its data and ports.

Topics are read back with Kafka's own Java consumer (the same pom's
strata.kafkatest.Consume): every record with its partition, offset,
timestamp, key, value and headers."""
import base64
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest

from conftest import REPO, STRATA_BIN
from servers import free_port, run_checked, stop_process, tail, wait_port

BUILD = pathlib.Path(os.environ.get("STRATA_BUILD_DIR", STRATA_BIN.parent.parent))
JAVA = os.environ.get("JAVA", shutil.which("java") or "java")


def kafka_lib():
    """BUILD/kafka/lib, fetched first if it is missing (tools/test-env does that)."""
    lib = BUILD / "kafka" / "lib"
    if not (lib / "strata-kafka-test.jar").exists():
        subprocess.run([str(REPO / "tools" / "fetch-kafka"), str(BUILD)], check=True)
    return lib


class Record:
    def __init__(self, d):
        self.topic = d["topic"]
        self.partition = d["partition"]
        self.offset = d["offset"]
        self.timestamp = d["timestamp"]
        self.timestamp_type = d["timestampType"]
        self.key = None if d["key"] is None else base64.b64decode(d["key"])
        self.value = None if d["value"] is None else base64.b64decode(d["value"])
        self.header_list = [(k, None if v is None else base64.b64decode(v)) for k, v in d["headers"]]
        self.headers = {k: (v.decode() if v is not None else None) for k, v in self.header_list}

    def __repr__(self):
        return (f"Record(p={self.partition}, o={self.offset}, ts={self.timestamp}, key={self.key!r}, "
                f"value={self.value[:60]!r}, headers={self.headers})")


class Kafka:
    SERVER_LOG4J = ("rootLogger.level=INFO\nrootLogger.appenderRef.out.ref=out\n"
                    "appender.out.type=Console\nappender.out.name=out\n"
                    "appender.out.layout.type=PatternLayout\nappender.out.layout.pattern=[%d] %p %m (%c)%n\n"
                    "logger.state.name=state.change.logger\nlogger.state.level=WARN\n")
    CLIENT_LOG4J = ("rootLogger.level=WARN\nrootLogger.appenderRef.err.ref=err\n"
                    "appender.err.type=Console\nappender.err.name=err\nappender.err.target=SYSTEM_ERR\n"
                    "appender.err.layout.type=PatternLayout\nappender.err.layout.pattern=%p %m (%c)%n\n")

    def __init__(self, workdir=None):
        self.lib = kafka_lib()
        self.dir = pathlib.Path(workdir or tempfile.mkdtemp(prefix="strata-kafka-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data = self.dir / "data"
        self.port = free_port()
        self.controller_port = free_port()
        self.log_path = self.dir / "kafka.log"
        self.proc = None
        self._log = None
        self.properties = self.dir / "server.properties"
        self.properties.write_text("\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={self.data}",
            "num.partitions=1",
            # The exporter creates its topics; a topic the broker would make up
            # on its own would hide that.
            "auto.create.topics.enable=false",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "num.network.threads=2",
            "num.io.threads=2",
            "num.recovery.threads.per.data.dir=1",
            "background.threads=2",
            "log.cleaner.enable=false",
        ]) + "\n")
        (self.dir / "log4j2.properties").write_text(self.SERVER_LOG4J)
        (self.dir / "client-log4j2.properties").write_text(self.CLIENT_LOG4J)
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        # StorageTool reads an id starting with "-" as an option; in --cluster-id=ID it is a value whatever it starts with.
        run_checked(self._java("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(self.properties),
                               heap="256m", log4j="client-log4j2.properties"),
                    "Kafka's StorageTool format", timeout=120)
        self.start()

    def _java(self, main, *args, heap="512m", log4j="log4j2.properties", client=True):
        cmd = [JAVA, f"-Xmx{heap}", "-Djava.awt.headless=true",
               f"-Dlog4j2.configurationFile={self.dir / log4j}", "-cp", f"{self.lib}/*"]
        if client:  # short-lived: start fast rather than run fast
            cmd[2:2] = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
        return cmd + [main] + list(args)

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def start(self, timeout=120):
        """Starts the broker and waits until it serves clients."""
        self._log = open(self.log_path, "ab")
        started_before = self.log().count("Kafka Server started")
        self.proc = subprocess.Popen(self._java("kafka.Kafka", str(self.properties), client=False),
                                     stdout=self._log, stderr=subprocess.STDOUT)
        wait_port(self.port, timeout=timeout, proc=self.proc, what="Kafka",
                  output=lambda: f"--- {self.log_path} ---\n{tail(self.log())}")
        deadline = time.monotonic() + timeout
        while self.log().count("Kafka Server started") <= started_before:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Kafka exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kafka did not start within {timeout}s:\n{self.log()[-4000:]}")
            time.sleep(0.1)

    def stop(self, timeout=60):
        """A clean stop (SIGTERM: Kafka's controlled shutdown); the data stays."""
        stop_process(self.proc, timeout)
        if self._log:
            self._log.close()
            self._log = None

    def restart(self):
        self.stop()
        self.start()

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def consume(self, topic, at_least=0, timeout=30):
        """Every record of `topic` (or of several, comma-separated), waiting up
        to `timeout` s for at least `at_least` of them, in topic, partition and
        offset order."""
        out = run_checked(self._java("strata.kafkatest.Consume", self.bootstrap, topic, str(at_least),
                                     str(int(timeout)), heap="256m", log4j="client-log4j2.properties"),
                          "Kafka consumer", output=lambda: f"--- {self.log_path} ---\n{tail(self.log())}",
                          timeout=timeout + 90)
        return [Record(json.loads(line)) for line in out.stdout.splitlines() if line.strip()]

    def consume_topics(self, topics, at_least=0, timeout=30):
        """consume() of several topics in one go (one JVM start instead of
        one each): {topic: records}, waiting for `at_least` records in all."""
        by_topic = {t: [] for t in topics}
        for r in self.consume(",".join(topics), at_least, timeout):
            by_topic[r.topic].append(r)
        return by_topic


@pytest.fixture(scope="session")
def kafka():
    server = Kafka()
    yield server
    server.stop()
    shutil.rmtree(server.dir, ignore_errors=True)
