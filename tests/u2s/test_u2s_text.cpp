// U2S pieces: the corpus generator, chunking, TF-IDF retrieval, the extractive rules, filters.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>

#include "common/error.hpp"
#include "sim/u2s/u2s.hpp"

using namespace fedsim;
using namespace fedsim::sim::u2s;
using fedsim::sim::Selection;
using fedsim::sim::FilterSpec;

namespace {

datasets::U2sWorld small_world() {
  datasets::U2sCorpusSpec s;
  s.n_clients = 6;
  s.pool_size = 60;
  return datasets::generate_u2s_world(s);
}

}  // namespace

TEST_CASE("u2s corpus: documents, held-out questions, true pairs and a disjoint pool") {
  const datasets::U2sWorld w = small_world();
  CHECK(w.corpus.kind == datasets::DataKind::corpus);
  REQUIRE(w.corpus.clients.size() == 6);
  size_t docs = 0, pairs = 0;
  for (size_t c = 0; c < 6; ++c) {
    docs += w.corpus.clients[c].samples.size();
    CHECK(w.corpus.clients[c].samples.size() >= 3);
    CHECK(w.corpus.clients[c].samples.size() <= 5);
    for (const auto& d : w.corpus.clients[c].samples) CHECK(d.instruction.empty());
    pairs += w.true_pairs.clients[c].samples.size();
  }
  CHECK(pairs == w.corpus.test.size());  // every distinct fact is held out once
  CHECK(w.pool.size() == 60);
  // No pool question is a held-out question: examples never leak the answers.
  std::set<std::string> test_q;
  for (const auto& s : w.corpus.test) test_q.insert(s.instruction);
  CHECK(test_q.size() == w.corpus.test.size());
  for (const auto& f : w.pool) CHECK(test_q.count(f.question) == 0);
  // Same spec, same bits.
  const datasets::U2sWorld again = small_world();
  CHECK(again.corpus.clients[3].samples[1].response == w.corpus.clients[3].samples[1].response);
  datasets::U2sCorpusSpec bad;
  bad.domains = {"law"};
  CHECK_THROWS_AS(datasets::validate_u2s_corpus_spec(bad), UserError);
  // More math facts than small operands allow: generation still ends, every fact distinct.
  datasets::U2sCorpusSpec many;
  many.n_clients = 1;
  many.domains = {"math"};
  many.n_demos = 12000;
  const datasets::U2sWorld m = datasets::generate_u2s_world(many);
  std::set<std::string> qs;
  for (const auto& f : m.demos) qs.insert(f.question);
  CHECK(qs.size() == 12000);
}

TEST_CASE("extractive rules turn every fact template into its canonical question") {
  const datasets::U2sWorld w = small_world();
  size_t n = 0;
  for (const auto& f : w.pool) {
    CHECK(extract_pair(f.sentence) == format_pair(f.question, f.answer));
    ++n;
  }
  CHECK(n == 60);
  CHECK(extract_pair("Zorvex treats gout. This is widely known.") == "Q:What does Zorvex treat?\nA:gout");
  CHECK(extract_pair("of Belmor is Tiran. Belmor was founded in 1742.") == "Q:When was Belmor founded?\nA:1742");
  CHECK(extract_pair("This is widely known.") == "");  // vague subject
  // Fortunes text: a question states no fact, a conjunction continues another sentence.
  CHECK(extract_pair("A day for firm decisions!!!!!  Or is it?") == "Q:Complete: A day for firm ___\nA:decisions");
  CHECK(extract_pair("Is it? Or is it not. Zorvex treats gout.") == "Q:What does Zorvex treat?\nA:gout");
  CHECK(extract_pair("Cats sleep all day long!") == "Q:Complete: Cats sleep all day ___\nA:long");
  CHECK(extract_pair("no sentence ends here") == "");
}

TEST_CASE("chunking: bounded pieces, overlap, full coverage") {
  const std::string text = "Zorvex treats gout. The dose of Zorvex is 20 mg. Belmor was founded in 1742. 12 plus 7 is 19.";
  const auto pieces = chunk(text, 40, 12);
  REQUIRE(pieces.size() == 4);
  CHECK(pieces[0] == "Zorvex treats gout.");
  for (const auto& p : pieces) CHECK(p.size() <= 40);
  // Every sentence is whole in some piece.
  for (const char* s : {"Zorvex treats gout.", "The dose of Zorvex is 20 mg.", "Belmor was founded in 1742.", "12 plus 7 is 19."}) {
    bool whole = false;
    for (const auto& p : pieces) whole = whole || p.find(s) != std::string::npos;
    CHECK_MESSAGE(whole, s);
  }
  CHECK(chunk("", 40, 12).empty());
  CHECK(chunk(std::string(100, 'x'), 30, 0).size() == 4);  // no spaces: hard cuts
}

TEST_CASE("retrieval picks examples of the piece's template; random and fixed are baselines") {
  const datasets::U2sWorld w = small_world();
  std::vector<PoolExample> pool;
  for (const auto& f : w.pool) pool.push_back({f.sentence, f.question, f.answer, f.domain});
  const Selector ret(pool, Selection::retrieval, 2, 3, 4096), rnd(pool, Selection::random, 2, 3, 4096),
      fix(pool, Selection::fixed, 2, 3, 4096);
  // Over the held-out facts' sentences: how often the top example has the same domain.
  size_t same_ret = 0, same_rnd = 0, n = 0;
  const std::vector<std::string> doms = datasets::u2s_domain_names();
  for (const auto& s : w.corpus.test) {
    const std::string piece = s.instruction;  // any text of the domain will do
    const auto a = ret.select(piece, 7);
    const auto b = rnd.select(piece, 1000 + n);
    REQUIRE(a.size() == 2);
    same_ret += pool[a[0]].domain == s.task;
    same_rnd += pool[b[0]].domain == s.task;
    ++n;
  }
  CHECK(static_cast<double>(same_ret) / static_cast<double>(n) > 0.95);
  CHECK(static_cast<double>(same_rnd) / static_cast<double>(n) < 0.6);
  CHECK(fix.select("anything", 1) == std::vector<size_t>{0, 1});
  CHECK(fix.select("anything", 1, 0) == std::vector<size_t>{1, 2});  // the excluded item is skipped
  CHECK(rnd.select("x", 5) == rnd.select("x", 5));
  // The prompt lists the examples, then the piece; the piece is recovered from it.
  const std::string p = format_prompt(pool, {0, 1}, "Zorvex treats gout.");
  CHECK(piece_of_prompt(p) == "Zorvex treats gout.");
  CHECK(p.rfind("Q:" + pool[0].instruction + "\nA:" + pool[0].response + "\n", 0) == 0);
  // prompt_pad: the piece starts at the same byte whatever the examples' lengths.
  const size_t width = examples_width(pool, 2);
  size_t longest = 0;
  for (const auto& e : pool) longest = std::max(longest, format_pair(e.instruction, e.response).size() + 1);
  CHECK(width >= longest);
  CHECK(width <= 2 * longest);
  for (const std::vector<size_t>& ex : {std::vector<size_t>{0, 1}, {2, 5}, {7}}) {
    const std::string q = format_prompt(pool, ex, "Zorvex treats gout.", width);
    CHECK(q.find("T:Zorvex") == width);
    CHECK(piece_of_prompt(q) == "Zorvex treats gout.");
  }
}

TEST_CASE("filter: each drop reason, and the kept pair") {
  std::map<std::string, std::string> truth{{"What does Zorvex treat?", "gout"}};
  const FilterSpec f;
  const std::string piece = "Zorvex treats gout. Zorvex treats rash.";
  auto res = [](bool ok, const std::string& text, const std::string& err = "") {
    sim::llm::Result r;
    r.ok = ok;
    r.text = text;
    r.error = err;
    return r;
  };
  CHECK(judge(res(true, "Q:What does Zorvex treat?\nA:gout"), piece, f, &truth).keep);
  CHECK(judge(res(true, "  Q:What does Zorvex treat?\nA:gout\nQ:more"), piece, f, &truth).keep);
  CHECK(judge(res(false, "", "HTTP 500"), piece, f, &truth).why == Drop::error);
  CHECK(judge(res(false, "", "timeout after 1 s"), piece, f, &truth).why == Drop::timeout);
  CHECK(judge(res(true, "What does Zorvex treat? gout"), piece, f, &truth).why == Drop::format);
  CHECK(judge(res(true, "Q:What?\nA:gout"), piece, f, &truth).why == Drop::length);
  CHECK(judge(res(true, "Q:What does Zorvex treat?\nA:flu"), piece, f, &truth).why == Drop::ungrounded);
  CHECK(judge(res(true, "Q:What does Zorvex treat?\nA:rash"), piece, f, &truth).why == Drop::incorrect);
  CHECK(judge(res(true, "Q:What does Zorvex cure?\nA:gout"), piece, f, &truth).why == Drop::unverifiable);
  CHECK(judge(res(true, "Q:What does Zorvex cure?\nA:gout"), piece, f).keep);  // no ground truth
  CHECK(std::string(drop_name(Drop::unverifiable)) == "unverifiable");
}
