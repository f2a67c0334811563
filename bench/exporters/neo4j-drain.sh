#!/bin/bash
# Export rate from a backlog: publish N readings while the exporter points at a
# dead port, then restart strata pointed at Neo4j and time the drain.
set -e
B=${BUILD:-build}/bin; D=${WORK:-/tmp/strata-neo4j-bench}; mkdir -p $D; NEO=${NEO:?the port of a Neo4j HTTP connector whose neo4j password is strata-pw}; N=${N:-20000}; BATCH=${BATCH:-1000}
rm -rf $D/store; echo strata-pw > $D/pw
conf() { cat > $D/strata.conf <<C
listener 18931 127.0.0.1
allow_anonymous true
http_listener 18932 127.0.0.1
storage rocksdb
storage_path $D/store
exporter bench neo4j
exporter_url http://neo4j@127.0.0.1:$1
exporter_password_file $D/pw
exporter_route bench/# bench_readings
exporter_batch_size $BATCH
exporter_retry_max 1000
C
}
conf 1; $B/strata -c $D/strata.conf > $D/strata1.log 2>&1 & P=$!; sleep 1
$B/strata-bench -broker tcp://127.0.0.1:18931 -action pub -clients 4 -count $((N/4)) -size 256 -payload json -qos 1 -topic bench -timeout 120 | tail -2
kill $P; wait $P || true
conf $NEO; t0=$(date +%s.%N); $B/strata -c $D/strata.conf > $D/strata2.log 2>&1 & P=$!
while :; do s=$(curl -s http://127.0.0.1:18932/api/v1/exporters || true)
  if echo "$s" | python3 -c "import json,sys; e=json.load(sys.stdin)['exporters'][0]; sys.exit(0 if e['lag']==0 and e['rows']>=$N else 1)" 2>/dev/null; then break; fi; sleep 0.2; done
t1=$(date +%s.%N); echo "$s"; python3 -c "print('exported $N rows in %.1f s: %.0f rows/s' % ($t1-$t0, $N/($t1-$t0)))"
kill $P; wait $P || true
