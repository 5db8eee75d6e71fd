// Import of FedLLM-Bench-shaped JSON and JSONL written here, round-tripped through HDF5.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/error.hpp"
#include "datasets/dataset.hpp"
#include "datasets/import.hpp"

using namespace fedsim::datasets;
namespace fs = std::filesystem;

namespace {

std::string scratch(const std::string& name) {
  fs::create_directories(FEDSIM_TEST_TMP_DIR);
  return std::string(FEDSIM_TEST_TMP_DIR) + "/import_" + name;
}
std::string write(const std::string& name, const std::string& text) {
  const std::string p = scratch(name);
  std::ofstream(p, std::ios::binary) << text;
  return p;
}
std::string import_error(const std::string& path, DataKind kind) {
  ImportOptions o;
  o.kind = kind;
  try {
    import_fedllm(path, o);
  } catch (const fedsim::UserError& e) {
    return e.what();
  }
  return "";
}
FederatedDataset round_trip(const FederatedDataset& d, const std::string& name) {
  write_dataset(d, scratch(name));
  return read_dataset(scratch(name));
}

}  // namespace

TEST_CASE("SFT JSON with every field and an Aya test set round-trips, client order kept") {
  const std::string json = R"({
  "zz_last_alphabetically": [
    {"instruction": "Translate: hola", "response": "hello", "answer": "hello", "language": "es", "task": "translate", "quality": 0.5}
  ],
  "user/with/slash": [
    {"instruction": "Say hi \ud83d\udc4b", "response": "hi \u00e9", "language": "en"},
    {"instruction": "2+2", "response": "4", "task": "math"}
  ],
  "aa_first": []
})";
  const std::string test = R"({"es": [{"instruction": "hola", "reference": "hello"}], "en": [{"instruction": "hi", "reference": "hi"}]})";
  ImportOptions o;
  o.test_path = write("aya_test.json", test);
  const FederatedDataset d = round_trip(import_fedllm(write("sft.json", json), o), "sft.h5");
  REQUIRE(d.clients.size() == 3);
  CHECK(d.kind == DataKind::sft);
  CHECK(d.clients[0].name == "zz_last_alphabetically");
  CHECK(d.clients[1].name == "client_1");  // '/' cannot be an HDF5 name; the key is kept
  CHECK(d.clients[1].attributes.at("key") == "user/with/slash");
  CHECK(d.clients[2].name == "aa_first");
  CHECK(d.clients[2].samples.empty());
  const Sample& a = d.clients[0].samples[0];
  CHECK(a.instruction == "Translate: hola");
  CHECK(a.response == "hello");
  CHECK(a.answer == "hello");
  CHECK(a.quality == 0.5f);
  CHECK(d.languages.at(static_cast<size_t>(a.language)) == "es");
  CHECK(d.task_names.at(static_cast<size_t>(a.task)) == "translate");
  const Sample& b = d.clients[1].samples[0];
  CHECK(b.instruction == "Say hi \xF0\x9F\x91\x8B");
  CHECK(b.response == "hi \xC3\xA9");
  CHECK(b.quality == 1.0f);
  CHECK(d.task_names.at(static_cast<size_t>(b.task)) == "general");
  CHECK(d.clients[1].samples[1].language == -1);
  REQUIRE(d.test.size() == 2);
  CHECK(d.test[0].answer == "hello");
  CHECK(d.test[0].response == "hello");
  CHECK(d.languages.at(static_cast<size_t>(d.test[1].language)) == "en");
}

TEST_CASE("multi-turn and DPO JSON, ChatbotIT/WildChat test sets, and JSONL") {
  const std::string mt = R"({"u1": [{"conversations": [{"from": "human", "value": "q1"}, {"from": "gpt", "value": "a1"},
                                                      {"from": "human", "value": "q2"}, {"from": "gpt", "value": "a2"}]}]})";
  ImportOptions o;
  o.kind = DataKind::multiturn;
  o.test_path = write("wildchat_test.json", R"([{"instruction": "t1", "language": "English"}, {"instruction": "t2"}])");
  const FederatedDataset m = round_trip(import_fedllm(write("mt.json", mt), o), "mt.h5");
  REQUIRE(m.clients.size() == 1);
  CHECK(m.clients[0].samples[0].turns == std::vector<std::string>{"q1", "a1", "q2", "a2"});
  CHECK(m.clients[0].samples[0].instruction == "q2");
  CHECK(m.clients[0].samples[0].response == "a2");
  REQUIRE(m.test.size() == 2);
  CHECK(m.languages.at(static_cast<size_t>(m.test[0].language)) == "English");
  CHECK(m.test[1].turns == std::vector<std::string>{"t2", ""});

  const std::string dpo = R"({"p1": [{"prompt": "p", "chosen": "good", "rejected": "bad", "quality": 0.25}]})";
  o = ImportOptions{};
  o.kind = DataKind::dpo;
  const FederatedDataset p = round_trip(import_fedllm(write("dpo.json", dpo), o), "dpo.h5");
  CHECK(p.clients[0].samples[0].instruction == "p");
  CHECK(p.clients[0].samples[0].response == "good");
  CHECK(p.clients[0].samples[0].rejected == "bad");
  CHECK(p.clients[0].samples[0].quality == 0.25f);

  const std::string jsonl = "{\"client\": \"b\", \"instruction\": \"i1\", \"response\": \"r1\"}\n\n"
                            "{\"client\": 7, \"instruction\": \"i2\", \"response\": \"r2\"}\n"
                            "{\"client\": \"b\", \"instruction\": \"i3\", \"response\": \"r3\"}\n";
  const FederatedDataset j = round_trip(import_fedllm(write("s.jsonl", jsonl), ImportOptions{}), "jsonl.h5");
  REQUIRE(j.clients.size() == 2);
  CHECK(j.clients[0].name == "b");
  CHECK(j.clients[0].samples.size() == 2);
  CHECK(j.clients[0].samples[1].response == "r3");
  CHECK(j.clients[1].name == "7");
}

TEST_CASE("malformed input names the file, line, column and what was expected") {
  const std::string syntax = write("syntax.json", "{\n  \"a\": [\n    {\"instruction\": \"x\" \"response\": \"y\"}\n  ]\n}\n");
  const std::string e1 = import_error(syntax, DataKind::sft);
  CHECK(e1 == syntax + ":3:34: invalid JSON: syntax error while parsing object - unexpected string literal; expected '}'");

  const std::string missing = write("missing.json", "{\n  \"a\": [\n    {\"instruction\": \"x\"}\n  ]\n}\n");
  CHECK(import_error(missing, DataKind::sft) ==
        missing + ":3:5: expected a \"response\" field (a string) in this sample");

  const std::string type = write("type.json", "{\"a\": [{\"instruction\": 5, \"response\": \"y\"}]}");
  CHECK(import_error(type, DataKind::sft) == type + ":1:24: expected \"instruction\" to be a string, found number");

  // Only one leading gpt turn is dropped (as upstream); a second one breaks the alternation.
  const std::string turn = write("turn.json", "{\"a\": [{\"conversations\": [{\"from\": \"gpt\", \"value\": \"x\"}, "
                                              "{\"from\": \"gpt\", \"value\": \"y\"}]}]}");
  CHECK(import_error(turn, DataKind::multiturn) ==
        turn + ":1:67: expected \"from\": \"human\" (turns alternate from the first human turn), found \"gpt\"");
  const std::string role = write("role.json", "{\"a\": [{\"conversations\": [{\"from\": \"system\", \"value\": \"x\"}]}]}");
  CHECK(import_error(role, DataKind::multiturn) ==
        role + ":1:27: expected a turn {\"from\": \"human\"|\"gpt\", \"value\": string}");

  const std::string root = write("root.json", "[1, 2]");
  CHECK(import_error(root, DataKind::sft) == root + ":1:2: expected a sample object, found number");
  const std::string scalar = write("scalar.json", "5");
  CHECK(import_error(scalar, DataKind::sft) ==
        scalar + ":1:1: expected an object {\"client key\": [sample, ...]} or a list of samples (one client), found number");

  const std::string jl = write("bad.jsonl", "{\"client\": \"a\", \"instruction\": \"i\", \"response\": \"r\"}\n{\"instruction\": \"i\"}\n");
  CHECK(import_error(jl, DataKind::sft) ==
        jl + ":2:1: expected a \"client\" field (string or integer) naming the sample's client");

  CHECK(import_error(scratch("nope.json"), DataKind::sft) == scratch("nope.json") + ": cannot open (no such file or not readable)");
}

TEST_CASE("tolerant as the upstream loader: a local-run list, a leading gpt turn, a last human turn") {
  // FedLLM-Bench data_module.py (preprocess) drops a conversation's leading gpt turn and keeps a
  // last human turn with its labels masked; utils/benchmark_dataset.py reads a local-run file
  // (a JSON list of samples) as one client.
  const std::string local = R"([
  {"conversations": [{"from": "gpt", "value": "hello, how can I help?"}, {"from": "human", "value": "q1"},
                     {"from": "gpt", "value": "a1"}]},
  {"conversations": [{"from": "human", "value": "q1"}, {"from": "gpt", "value": "a1"}, {"from": "human", "value": "q2"}]},
  {"conversations": [{"from": "human", "value": "only a question"}]},
  {"conversations": [{"from": "human", "value": "q1"}, {"from": "gpt", "value": "a1"},
                     {"from": "human", "value": "q2"}, {"from": "gpt", "value": "a2"}]}
])";
  ImportOptions o;
  o.kind = DataKind::multiturn;
  ImportReport rep;
  const FederatedDataset d = round_trip(import_fedllm(write("local_202.json", local), o, &rep), "local.h5");
  REQUIRE(d.clients.size() == 1);
  CHECK(d.clients[0].name == "import_local_202");  // the file's stem
  REQUIRE(d.clients[0].samples.size() == 3);        // the conversation with no reply holds no target
  CHECK(d.clients[0].samples[0].turns == std::vector<std::string>{"q1", "a1"});
  CHECK(d.clients[0].samples[1].turns == std::vector<std::string>{"q1", "a1"});
  CHECK(d.clients[0].samples[1].response == "a1");
  CHECK(d.clients[0].samples[2].turns.size() == 4);
  CHECK(rep.leading_gpt_turns == 1);
  CHECK(rep.trailing_human_turns == 2);
  CHECK(rep.empty_conversations == 1);
  CHECK(rep.turns() == 3);

  const std::string sft = R"([{"instruction": "i1", "response": "r1"}, {"instruction": "i2", "response": "r2"}])";
  ImportReport none;
  const FederatedDataset s = import_fedllm(write("local_sft.json", sft), ImportOptions{}, &none);
  REQUIRE(s.clients.size() == 1);
  CHECK(s.clients[0].samples.size() == 2);
  CHECK(s.clients[0].samples[1].response == "r2");
  CHECK(none.turns() == 0);
}

TEST_CASE("import: a client key listed twice is an error at its second place") {
  // Issue 21: the second list used to replace the first silently.
  const std::string dup = write("dup.json",
                                "{\"a\": [{\"instruction\": \"i\", \"response\": \"r\"}],\n"
                                " \"b\": [{\"instruction\": \"j\", \"response\": \"s\"}],\n"
                                " \"a\": [{\"instruction\": \"k\", \"response\": \"t\"}]}\n");
  CHECK(import_error(dup, DataKind::sft) ==
        dup + ":3:2: client key \"a\" appears a second time (first at line 1, column 2); each client must be listed "
              "once (the second list would replace the first)");
}

TEST_CASE("import: a NUL character (\\u0000) in any text is an error at its value, naming client and sample") {
  // Issue 21 item 10: "x\u0000y" used to become "x", then was kept as three bytes; neither is
  // what the user meant, so it is refused where it stands.
  const std::string sft = write("nul.json",
                                "{\"a\": [{\"instruction\": \"i\", \"response\": \"r\"},\n"
                                "       {\"instruction\": \"x\\u0000y\", \"response\": \"r\"}]}\n");
  CHECK(import_error(sft, DataKind::sft) ==
        sft + ":2:24: client \"a\", sample 1: \"instruction\" holds a NUL character (\\u0000) at byte 1; "
              "accepted: text without NUL characters");
  const std::string turn = write("nul_turn.json", "{\"b\": [{\"conversations\": [{\"from\": \"human\", \"value\": \"q\"}, "
                                                  "{\"from\": \"gpt\", \"value\": \"ab\\u0000\"}]}]}");
  CHECK(import_error(turn, DataKind::multiturn) ==
        turn + ":1:85: client \"b\", sample 0, turn 1: \"value\" holds a NUL character (\\u0000) at byte 2; "
               "accepted: text without NUL characters");
  const std::string key = write("nul_key.json", "{\"k\\u0000\": [{\"instruction\": \"i\", \"response\": \"r\"}]}");
  CHECK(import_error(key, DataKind::sft) ==
        key + ":1:2: client key \"k\\u0000\" holds a NUL character (\\u0000) at byte 1; accepted: text without NUL "
              "characters");
  const std::string jl = write("nul.jsonl", "{\"client\": \"c\", \"instruction\": \"i\", \"response\": \"r\"}\n"
                                            "{\"client\": \"c\", \"instruction\": \"i\", \"response\": \"\\u0000r\"}\n");
  CHECK(import_error(jl, DataKind::sft) ==
        jl + ":2:49: the sample on this line: \"response\" holds a NUL character (\\u0000) at byte 0; accepted: text "
             "without NUL characters");
  const std::string test = write("nul_test.json", "{\"English\": [{\"instruction\": \"i\\u0000\", \"reference\": \"r\"}]}");
  ImportOptions o;
  o.test_path = test;
  const std::string ok = write("ok.json", "{\"a\": [{\"instruction\": \"i\", \"response\": \"r\"}]}");
  CHECK_THROWS_WITH_AS(import_fedllm(ok, o),
                       (test + ":1:30: language \"English\", test sample 0: \"instruction\" holds a NUL character "
                               "(\\u0000) at byte 1; accepted: text without NUL characters").c_str(),
                       fedsim::UserError);
}
