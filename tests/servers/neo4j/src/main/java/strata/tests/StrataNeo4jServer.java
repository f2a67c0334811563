package strata.tests;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.harness.Neo4j;
import org.neo4j.harness.Neo4jBuilders;

/**
 * A real Neo4j 5 community server for strata's exporter tests, run in this JVM
 * by Neo4j's own harness: the HTTP connector on 127.0.0.1:PORT (Bolt and HTTPS
 * off), authentication on, the user neo4j with the given password (no change
 * required). The databases live in DATA_DIR/data and survive a restart (the
 * harness's own scratch folder, logs only, is DATA_DIR/run/<random>).
 *
 * Usage: StrataNeo4jServer PORT DATA_DIR PASSWORD
 * Prints "ready http://127.0.0.1:PORT" once it answers; stops when its
 * standard input closes or on SIGTERM.
 */
public final class StrataNeo4jServer {
    private StrataNeo4jServer() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: StrataNeo4jServer PORT DATA_DIR PASSWORD");
            System.exit(2);
        }
        final int port = Integer.parseInt(args[0]);
        final Path dir = Path.of(args[1]).toAbsolutePath();
        final String password = args[2];
        Files.createDirectories(dir.resolve("run"));

        final Neo4j neo4j = Neo4jBuilders.newInProcessBuilder(dir.resolve("run"))
                .withConfig(GraphDatabaseSettings.data_directory, dir.resolve("data"))
                .withConfig(GraphDatabaseSettings.auth_enabled, true)
                // A test server: no lock-out after failed logins (the wrong-password
                // test would lock the user out for the tests after it).
                .withConfig(GraphDatabaseSettings.auth_max_failed_attempts, 0)
                .withConfig(GraphDatabaseSettings.auth_minimum_password_length, 1)
                .withConfig(GraphDatabaseSettings.pagecache_memory, 32L << 20)
                .withConfig(HttpConnector.enabled, true)
                .withConfig(HttpConnector.listen_address, new SocketAddress("127.0.0.1", port))
                .withConfig(HttpConnector.advertised_address, new SocketAddress("127.0.0.1", port))
                .withConfig(HttpsConnector.enabled, false)
                .withConfig(BoltConnector.enabled, false)
                .build();

        Runtime.getRuntime().addShutdownHook(new Thread(neo4j::close, "strata-neo4j-stop"));

        setPassword(neo4j, password);
        System.out.println("ready " + neo4j.httpURI());
        System.out.flush();

        // Until standard input closes (the test run went away) or SIGTERM.
        final InputStream in = System.in;
        final byte[] buffer = new byte[256];
        try {
            while (in.read(buffer) >= 0) {
                // ignore
            }
        } catch (IOException e) {
            // stdin gone: stop as well
        }
        System.exit(0);  // runs the shutdown hook
    }

    /** The neo4j user's password, set in the system database (embedded: no login needed). */
    private static void setPassword(Neo4j neo4j, String password) {
        try {
            neo4j.databaseManagementService().database("system").executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED", Map.of("password", password));
        } catch (RuntimeException e) {
            // After a restart the password is already the same, which Neo4j refuses to "change".
            if (!String.valueOf(e.getMessage()).contains("cannot be the same")) throw e;
            neo4j.databaseManagementService().database("system").executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD CHANGE NOT REQUIRED");
        }
    }
}
