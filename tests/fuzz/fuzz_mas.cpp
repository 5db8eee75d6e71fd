// MAS-GPT's text format (sim/masgpt/mas_parse.cpp, FORMAT.md there). The text is model output,
// so the parser's expected answer to bad input is MasError (UserError for config-level problems).
// An accepted MAS must print (to_text) to text that parses back to the same canonical text.
#include <string>

#include "fuzz_common.hpp"
#include "sim/masgpt/mas.hpp"

using namespace fedsim::sim::masgpt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  extract_answer(text);
  MasLimits limits;
  if (size > 0 && data[0] == '#') limits.max_text_bytes = 1 << 20;  // past the length limit too
  Mas m;
  try {
    if (!fedsim::fuzz::expect_user_error_only([&] { m = parse_mas(text, limits); })) return 0;
  } catch (const MasError&) {
    return 0;
  }
  const std::string canonical = to_text(m);
  std::string again;
  try {
    again = to_text(parse_mas(canonical, limits));
  } catch (const MasError& e) {
    throw fedsim::InternalError(std::string("to_text gave a MAS that does not parse: ") + e.what() + "\n" + canonical);
  }
  if (again != canonical) throw fedsim::InternalError("MAS text does not round-trip:\n" + canonical + "\n---\n" + again);
  return 0;
}
