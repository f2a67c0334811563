// UTF-8 validation as MQTT requires it for strings and, when the payload
// format indicator says so, for payloads.
#pragma once

#include <string_view>

namespace strata::codec {

// True when `s` is well-formed UTF-8 (no overlong forms, no surrogates, nothing
// above U+10FFFF) and contains no U+0000 [MQTT-1.5.4-1], [MQTT-1.5.4-2].
bool is_valid_mqtt_utf8(std::string_view s);

// Same, but U+0000 is allowed: payloads are application data, and the payload
// format indicator only promises UTF-8 [MQTT-3.3.2-4].
bool is_valid_utf8(std::string_view s);

}  // namespace strata::codec
