#include "app/options.hpp"

#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "config/config_reference.hpp"

namespace strata::app {

namespace {

// The value of a parameter option, kept for the query only when given.
struct param_option {
    std::string name;  // as in the HTTP API
    std::shared_ptr<std::string> value = std::make_shared<std::string>();
    CLI::Option* option = nullptr;
};

}  // namespace

std::optional<int> parse_options(int argc, char** argv, options& out) {
    CLI::App cli{"strata: an MQTT 3.1.1/5.0 broker that keeps every message"};
    cli.set_version_flag("--version", std::string("strata version ") + STRATA_VERSION);
    cli.add_option("-c,--config-file", out.config_file, "Configuration file (Mosquitto syntax)")->check(CLI::ExistingFile);
    cli.add_option("-p,--port", out.ports, "Listen on this port (repeatable; replaces the default listener)")
        ->check(CLI::Range(0, 65535));
    cli.add_flag("-v,--verbose", out.verbose, "Log every message type (log_type all)");
    cli.add_flag("-d,--daemon", out.daemon, "Run in the background");
    cli.add_flag("--check,--test-config", out.check_only,
                 "Validate the configuration and exit: 0 if valid, 1 with file:line: reason otherwise");
    cli.add_option("--ports-file", out.ports_file,
                   "Write '<kind> <address> <port>' per bound socket to this file once listening; kind is mqtt, "
                   "mqtts (TLS), ws, wss (WebSocket), http or https (HTTP API)");
    bool reference = false;
    cli.add_flag("--conf-reference", reference, "Print the configuration reference (Markdown) and exit");

    // strata query [-c CONF | --store DIR] ENDPOINT [parameters]: what the
    // HTTP API answers, read from the store directly (also while the broker
    // runs). Subcommands fall through, so -c may come before or after them.
    auto* query = cli.add_subcommand("query", "Query the stored messages (works while the broker runs); prints JSON");
    query->fallthrough();
    query->require_subcommand(1);
    query->add_option("--store", out.store_dir, "Store directory (default: the configuration's storage_path)");
    query->add_flag("--pretty", out.pretty, "Indent the JSON");
    std::vector<param_option> params;
    const auto param = [&](CLI::App* sub, const std::string& flag, const std::string& name, const std::string& help) {
        param_option p{name};
        p.option = sub->add_option(flag, *p.value, help);
        params.push_back(std::move(p));
    };
    struct endpoint {
        CLI::App* app;
        std::string name;
    };
    std::vector<endpoint> endpoints;
    const auto add_endpoint = [&](const std::string& name, const std::string& help) {
        auto* sub = query->add_subcommand(name, help);
        sub->fallthrough();
        endpoints.push_back({sub, name});
        return sub;
    };
    const std::string time_help = " (RFC 3339 such as 2026-11-24T10:00:00Z, or epoch milliseconds)";
    auto* topics = add_endpoint("topics", "Topics with their message counts and first/last times");
    param(topics, "--filter", "filter", "Topic filter (default #)");
    param(topics, "--limit", "limit", "Topics per page, 1 to 10000 (default 1000)");
    param(topics, "--cursor", "cursor", "next_cursor of the previous page");
    auto* messages = add_endpoint("messages", "Messages of the matching topics, merged in time order, one page");
    param(messages, "--topic", "topic", "Topic filter (required)");
    param(messages, "--from", "from", "Oldest time, inclusive" + time_help);
    param(messages, "--to", "to", "Newest time, exclusive" + time_help);
    param(messages, "--limit", "limit", "Messages per page, 1 to 10000 (default 100)");
    param(messages, "--cursor", "cursor", "next_cursor of the previous page");
    auto* latest = add_endpoint("latest", "The newest message of each matching topic");
    param(latest, "--filter", "filter", "Topic filter (default #)");
    param(latest, "--limit", "limit", "Topics per page, 1 to 10000 (default 1000)");
    param(latest, "--cursor", "cursor", "next_cursor of the previous page");
    auto* series = add_endpoint("series", "A numeric JSON field of one topic, downsampled");
    param(series, "--topic", "topic", "Topic name (required, no wildcards)");
    param(series, "--field", "field", "JSON key, or a dotted path a.b (required)");
    param(series, "--from", "from", "Oldest time, inclusive" + time_help);
    param(series, "--to", "to", "Newest time, exclusive" + time_help);
    param(series, "--step", "step", "Bucket width: 30s, 1m, 5m, 1h, 1d... (default 1m)");
    param(series, "--agg", "agg", "avg, min, max, count, last or sum (default avg)");

    // strata purge: deletes old messages from the store of a stopped broker.
    auto* purge = cli.add_subcommand("purge", "Delete stored messages older than a time (the broker must be stopped)");
    purge->fallthrough();
    purge->add_option("--store", out.store_dir, "Store directory (default: the configuration's storage_path)");
    param(purge, "--topic", "topic", "Topic filter (required)");
    param(purge, "--before", "before", "Delete messages older than this" + time_help + " (required)");

    try {
        cli.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return cli.exit(e);
    }
    if (reference) {
        std::cout << config::reference_markdown();
        return 0;
    }
    if (query->parsed()) {
        out.cmd = command::query;
        for (const auto& ep : endpoints) {
            if (ep.app->parsed()) out.query_endpoint = ep.name;
        }
    } else if (purge->parsed()) {
        out.cmd = command::purge;
    }
    // Only the parameters given, so that defaults are the HTTP API's.
    for (const auto& p : params) {
        if (p.option->count() > 0) out.query_params.emplace_back(p.name, *p.value);
    }
    return std::nullopt;
}

}  // namespace strata::app
