// -action replay: publishes the rows of a sensor CSV (the UCI Room Occupancy
// Estimation layout: Date,Time,S1_Temp..S4_Temp,S1_Light..S4_Light,
// S1_Sound..S4_Sound,S5_CO2,S5_CO2_Slope,S6_PIR,S7_PIR,Room_Occupancy_Count)
// as JSON messages, one topic per sensor kind under the base topic
// (default building/room1): temperature, light, sound, co2, co2_slope, pir, occupancy.
// Pace: the recorded one divided by -speed, or as fast as possible (0).
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

#include "report.hpp"
#include "runner.hpp"

namespace strata::bench {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

struct csv_row {
    std::string timestamp;  // ISO 8601, e.g. 2017-12-22T10:49:41
    std::time_t seconds = 0;
    std::vector<std::string> fields;  // everything after Date,Time
};

std::vector<std::string> split(const std::string& line) {
    std::vector<std::string> out;
    std::stringstream in(line);
    std::string cell;
    while (std::getline(in, cell, ',')) {
        if (!cell.empty() && cell.back() == '\r') cell.pop_back();
        out.push_back(cell);
    }
    return out;
}

bool read_rows(const std::string& path, std::vector<csv_row>& rows, std::string& error) {
    std::ifstream in(path);
    if (!in) {
        error = "cannot read " + path;
        return false;
    }
    std::string line;
    std::getline(in, line);  // header
    const auto header = split(line);
    if (header.size() != 19 || header[0] != "Date" || header[1] != "Time") {
        error = path + ": expected the occupancy CSV header (Date,Time,S1_Temp,...)";
        return false;
    }
    int line_number = 1;
    while (std::getline(in, line)) {
        ++line_number;
        if (line.empty()) continue;
        auto cells = split(line);
        if (cells.size() != 19) {
            error = path + ":" + std::to_string(line_number) + ": expected 19 columns";
            return false;
        }
        std::tm tm{};
        if (std::sscanf((cells[0] + " " + cells[1]).c_str(), "%d/%d/%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                        &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
            error = path + ":" + std::to_string(line_number) + ": bad date or time";
            return false;
        }
        char iso[32];
        std::snprintf(iso, sizeof iso, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour,
                      tm.tm_min, tm.tm_sec);
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        csv_row row;
        row.timestamp = iso;
        row.seconds = ::timegm(&tm);
        row.fields.assign(cells.begin() + 2, cells.end());
        rows.push_back(std::move(row));
    }
    return true;
}

// The messages of one row: (topic suffix, JSON payload).
std::vector<std::pair<std::string, std::string>> messages_of(const csv_row& r) {
    const auto& f = r.fields;
    const std::string ts = "{\"ts\":\"" + r.timestamp + "\"";
    auto four = [&](std::size_t first) {
        return ts + ",\"S1\":" + f[first] + ",\"S2\":" + f[first + 1] + ",\"S3\":" + f[first + 2] + ",\"S4\":" + f[first + 3] + "}";
    };
    return {
        {"temperature", four(0)},
        {"light", four(4)},
        {"sound", four(8)},
        {"co2", ts + ",\"co2\":" + f[12] + "}"},
        {"co2_slope", ts + ",\"slope\":" + f[13] + "}"},
        {"pir", ts + ",\"S6\":" + f[14] + ",\"S7\":" + f[15] + "}"},
        {"occupancy", ts + ",\"count\":" + f[16] + "}"},
    };
}

}  // namespace

int run_replay(const options& o) {
    std::vector<csv_row> rows;
    std::string error;
    if (!read_rows(o.file, rows, error)) {
        std::cerr << error << "\n";
        return 2;
    }
    const std::string base = o.topic == options{}.topic ? "building/room1" : o.topic;
    asio::io_context io(1);
    run_totals totals;
    tcp::resolver resolver(io);
    boost::system::error_code ec;
    const auto resolved = resolver.resolve(o.host, std::to_string(o.port), ec);
    if (ec || resolved.empty()) {
        std::cerr << "cannot resolve " << o.host << ": " << ec.message() << "\n";
        return 2;
    }
    auto c = std::make_shared<client>(io, o, totals, "bench-replay-" + std::to_string(::getpid()));
    std::vector<std::pair<std::string, std::string>> queue;  // one row's messages
    std::size_t row = 0;
    std::size_t in_row = 0;
    asio::steady_timer pace(io);
    const auto started = steady::now();
    bool failed = false;

    std::function<void()> next = [&] {
        if (in_row == queue.size()) {
            if (row == rows.size()) {
                c->disconnect();
                return;
            }
            queue = messages_of(rows[row]);
            in_row = 0;
            if (o.speed > 0 && row > 0) {
                // Recorded gap between this row and the previous one, sped up.
                const double gap = static_cast<double>(rows[row].seconds - rows[row - 1].seconds) / o.speed;
                ++row;
                pace.expires_after(std::chrono::microseconds(static_cast<std::int64_t>(gap * 1e6)));
                pace.async_wait([&](const boost::system::error_code& e) {
                    if (!e) next();
                });
                return;
            }
            ++row;
        }
        const auto& [suffix, payload] = queue[in_row++];
        c->publish_one(base + "/" + suffix, payload, [&] { asio::post(io, next); });
    };
    c->connect(*resolved.begin(), std::nullopt, [&](bool ok) {
        if (!ok) {
            failed = true;
            return;
        }
        next();
    });
    io.run();

    run_summary s;
    s.action = "replay";
    s.pattern = "replay";
    s.publishers = 1;
    s.publish_ms = milliseconds_between(totals.first_publish, totals.last_ack);
    print_report(o, totals, s);
    std::printf("replayed %zu rows (%llu messages) from %s to %s/... in %.1fs\n", row,
                static_cast<unsigned long long>(totals.published), o.file.c_str(), base.c_str(),
                std::chrono::duration<double>(steady::now() - started).count());
    return failed || totals.errors > 0 ? 1 : 0;
}

}  // namespace strata::bench
