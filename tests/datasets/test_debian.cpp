// Real text from Debian packages; skipped (with a message) when the archive is unreachable.
#include <doctest/doctest.h>

#include "datasets/dataset.hpp"
#include "datasets/debian.hpp"

using namespace fedsim::datasets;

TEST_CASE("FreeDict and fortunes packages become federated data") {
  if (!debian_archive_reachable()) {
    MESSAGE("skipped: the Debian archive is unreachable (apt-get download failed)");
    return;
  }
  DebianOptions o;
  o.packages = {"dict-freedict-afr-eng", "dict-freedict-ara-eng"};
  o.max_per_client = 300;
  const FederatedDataset d = debian_freedict(o);
  REQUIRE(d.clients.size() == 2);
  CHECK(d.clients[0].name == "afr-eng");
  CHECK(d.clients[0].samples.size() == 300);
  CHECK(d.test.size() == 40);
  CHECK(d.languages == std::vector<std::string>{"afr", "ara"});
  for (const auto& s : d.clients[0].samples) {
    CHECK(s.instruction.rfind("translate afr>eng: ", 0) == 0);
    CHECK(!s.answer.empty());
    CHECK(s.answer == s.response);
  }

  DebianOptions f;
  f.packages = {"fortunes-min", "fortunes-es"};
  const FederatedDataset c = debian_fortunes(f);
  CHECK(c.kind == DataKind::corpus);
  CHECK(c.clients.size() >= 2);
  size_t es = 0;
  for (const auto& cl : c.clients) {
    CHECK(cl.samples.size() >= 5);
    es += cl.attributes.at("language") == "es";
    for (const auto& s : cl.samples) CHECK((s.instruction.empty() && !s.response.empty()));
  }
  CHECK(es > 0);
}
