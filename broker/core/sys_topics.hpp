// $SYS topics, as Mosquitto publishes them (retained, every sys_interval
// seconds, only when a value changed): broker version and uptime, clients,
// messages, bytes, subscriptions and retained messages, summed over workers.
#pragma once

#include <string>
#include <unordered_map>

#include "session/message.hpp"

namespace strata::core {

class broker;
class worker;

class sys_topics {
public:
    // Called on every tick of worker 0; publishes when the interval is due.
    void tick(broker& b, worker& publisher, time_point now);

private:
    void publish_if_changed(worker& publisher, const std::string& topic, const std::string& value);

    time_point next_due_{};
    std::unordered_map<std::string, std::string> last_values_;
};

}  // namespace strata::core
