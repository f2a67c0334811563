// docs/configuration.md, generated from the key table so that the
// documentation cannot drift from what the parser accepts. Printed by
// `strata --conf-reference`; a test checks that the file in docs/ is current.
#pragma once

#include <string>

namespace strata::config {

// The whole of docs/configuration.md (Markdown).
std::string reference_markdown();

}  // namespace strata::config
