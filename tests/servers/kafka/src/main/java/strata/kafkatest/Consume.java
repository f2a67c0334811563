package strata.kafkatest;

import java.io.BufferedWriter;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Reads whole Kafka topics with Kafka's own consumer and prints one JSON object per record, in
 * topic, partition then offset order, for the end-to-end tests (tests/e2e/servers_kafka.py):
 *
 * <pre>
 *   java -cp 'lib/*' strata.kafkatest.Consume BOOTSTRAP TOPIC[,TOPIC...] [AT_LEAST [TIMEOUT_SECONDS]]
 *   {"topic":"t","partition":0,"offset":0,"timestamp":1767225600123,"timestampType":"CreateTime",
 *    "key":"BASE64"|null,"value":"BASE64"|null,"headers":[["name","BASE64"],...]}
 * </pre>
 *
 * It waits (up to TIMEOUT_SECONDS, default 30) until every topic exists and they hold at least
 * AT_LEAST records together (default 0), then prints every record up to the end offsets it saw; after the timeout it
 * prints what there is. No consumer group: partitions are assigned, nothing is committed.
 */
public final class Consume {
    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: Consume BOOTSTRAP TOPIC[,TOPIC...] [AT_LEAST [TIMEOUT_SECONDS]]");
            System.exit(2);
        }
        final String[] topics = args[1].split(",");
        final long atLeast = args.length > 2 ? Long.parseLong(args[2]) : 0;
        final long deadline = System.nanoTime() + (args.length > 3 ? Long.parseLong(args[3]) : 30) * 1_000_000_000L;

        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, "false");
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "5000");
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "10000");

        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
            List<TopicPartition> partitions = new ArrayList<>();
            Map<TopicPartition, Long> end = new HashMap<>();
            for (;;) {
                partitions.clear();
                boolean all = true;
                for (String topic : topics) {
                    List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(5));
                    if (infos == null || infos.isEmpty()) all = false;
                    else for (PartitionInfo info : infos) partitions.add(new TopicPartition(topic, info.partition()));
                }
                long total = 0;
                end.clear();
                if (!partitions.isEmpty()) {
                    end.putAll(consumer.endOffsets(partitions, Duration.ofSeconds(5)));
                    Map<TopicPartition, Long> begin = consumer.beginningOffsets(partitions, Duration.ofSeconds(5));
                    for (TopicPartition tp : partitions) total += end.get(tp) - begin.get(tp);
                }
                if ((all && total >= atLeast) || System.nanoTime() > deadline) break;
                Thread.sleep(200);
            }
            partitions.sort((a, b) -> a.topic().equals(b.topic()) ? Integer.compare(a.partition(), b.partition())
                                                                : a.topic().compareTo(b.topic()));
            BufferedWriter out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8));
            Base64.Encoder b64 = Base64.getEncoder();
            for (TopicPartition tp : partitions) {
                long stop = end.get(tp);
                consumer.assign(List.of(tp));
                consumer.seekToBeginning(List.of(tp));
                while (consumer.position(tp) < stop) {
                    for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofSeconds(1))) {
                        if (r.offset() >= stop) continue;
                        StringBuilder line = new StringBuilder(256);
                        line.append("{\"topic\":").append(quote(r.topic()))
                            .append(",\"partition\":").append(r.partition())
                            .append(",\"offset\":").append(r.offset())
                            .append(",\"timestamp\":").append(r.timestamp())
                            .append(",\"timestampType\":").append(quote(r.timestampType().toString()))
                            .append(",\"key\":").append(r.key() == null ? "null" : quote(b64.encodeToString(r.key())))
                            .append(",\"value\":")
                            .append(r.value() == null ? "null" : quote(b64.encodeToString(r.value())))
                            .append(",\"headers\":[");
                        boolean first = true;
                        for (Header h : r.headers()) {
                            if (!first) line.append(',');
                            first = false;
                            line.append('[').append(quote(h.key())).append(',')
                                .append(h.value() == null ? "null" : quote(b64.encodeToString(h.value())))
                                .append(']');
                        }
                        line.append("]}\n");
                        out.write(line.toString());
                    }
                    if (System.nanoTime() > deadline + 30_000_000_000L) {
                        throw new IllegalStateException("could not read " + tp + " up to offset " + stop);
                    }
                }
            }
            out.flush();
        }
    }

    private static String quote(String s) {
        StringBuilder b = new StringBuilder(s.length() + 2).append('"');
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }
}
