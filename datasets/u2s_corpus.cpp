// FedIT-U2S corpora (Ye et al., 2024, "Leveraging Unstructured Text Data for Federated Instruction Tuning"): documents that state facts with known answers in
// three domains, the canonical question of every fact (held-out test), the true pairs (the
// upper baseline) and a server example pool about other entities.
//
// Fact templates (sentence -> question / answer); sim/u2s/extractive.cpp rewrites exactly these
// shapes, so a correct generator reproduces the canonical question:
//   medicine   "Zorvex treats gout."            -> "What does Zorvex treat?" / "gout"
//              "The dose of Zorvex is 20 mg."   -> "What is the dose of Zorvex?" / "20 mg"
//   knowledge  "The capital of Belmor is Tiran." -> "What is the capital of Belmor?" / "Tiran"
//              "Belmor was founded in 1742."    -> "When was Belmor founded?" / "1742"
//   math       "12 plus 7 is 19."               -> "What is 12 plus 7?" / "19"
//              "5 times 6 is 30."               -> "What is 5 times 6?" / "30"
//   (sums of 2..99, products of 2..99 by 2..12; each arithmetic fact is used once per world)
// Random streams: client c's domain mix (seed, c, 0, data_split), its documents
// (seed, c, doc, data_generation), the pool (seed, kPoolStream, i, data_generation); entity names
// are made unique over the whole world in that order.
#include <algorithm>
#include <set>
#include <sstream>

#include "common/error.hpp"
#include "common/schema.hpp"
#include "common/rng.hpp"
#include "datasets/dataset.hpp"
#include "synthetic_tasks.hpp"

namespace fedsim::datasets {
namespace {

constexpr uint64_t kPoolStream = 0xffffffff00000011ULL, kDemoStream = 0xffffffff00000012ULL;
const char* const kDomains[] = {"medicine", "knowledge", "math"};
const char* const kDiseases[] = {"gout", "fever", "asthma", "acne", "flu", "migraine", "anemia", "rash", "cough", "colic",
                                 "eczema", "angina"};
const int kDoses[] = {5, 10, 20, 25, 50, 100, 200, 250, 500};
const char* const kFillers[] = {"This is widely known.", "Many people agree.", "Records confirm it.",
                                "More study is needed.", "It was noted early."};
const char* const kOnsets[] = {"b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z"};
const char* const kVowels[] = {"a", "e", "i", "o", "u"};

template <class T, size_t N>
size_t count_of(const T (&)[N]) {
  return N;
}

// Draws names and arithmetic facts never used before in this world.
class Namer {
 public:
  std::string name(Rng& rng) {
    for (;;) {
      std::string s;
      const int syl = 2 + static_cast<int>(rng.below(2));
      for (int i = 0; i < syl; ++i) s += std::string(kOnsets[rng.below(count_of(kOnsets))]) + kVowels[rng.below(count_of(kVowels))];
      if (rng.below(2)) s += kOnsets[rng.below(count_of(kOnsets))];
      s[0] = static_cast<char>(s[0] - 'a' + 'A');
      if (used_.insert(s).second) return s;
    }
  }
  bool claim(const std::string& key) { return used_.insert(key).second; }

 private:
  std::set<std::string> used_;
};

U2sFact make_fact(int domain, Rng& rng, Namer& names) {
  U2sFact f;
  f.domain = domain;
  const bool second = rng.below(2) == 1;
  if (domain == 0) {
    const std::string drug = names.name(rng);
    if (!second) {
      f.answer = kDiseases[rng.below(count_of(kDiseases))];
      f.sentence = drug + " treats " + f.answer + ".";
      f.question = "What does " + drug + " treat?";
    } else {
      f.answer = std::to_string(kDoses[rng.below(count_of(kDoses))]) + " mg";
      f.sentence = "The dose of " + drug + " is " + f.answer + ".";
      f.question = "What is the dose of " + drug + "?";
    }
  } else if (domain == 1) {
    const std::string place = names.name(rng);
    if (!second) {
      f.answer = names.name(rng);
      f.sentence = "The capital of " + place + " is " + f.answer + ".";
      f.question = "What is the capital of " + place + "?";
    } else {
      f.answer = std::to_string(rng.range(1200, 1999));
      f.sentence = place + " was founded in " + f.answer + ".";
      f.question = "When was " + place + " founded?";
    }
  } else {
    // Arithmetic facts are finite: after 64 draws that were all taken, fall back to sums of
    // larger numbers (practically never exhausted), so generation always ends.
    for (int tries = 0;; ++tries) {
      const bool times = second && tries < 64, big = tries >= 64;
      const int64_t a = big ? rng.range(100, 9999) : times ? rng.range(2, 99) : rng.range(2, 99);
      const int64_t b = big ? rng.range(100, 9999) : times ? rng.range(2, 12) : rng.range(2, 99);
      const std::string op = times ? " times " : " plus ";
      const std::string lhs = std::to_string(a) + op + std::to_string(b);
      if (!names.claim(lhs)) continue;
      f.answer = std::to_string(times ? a * b : a + b);
      f.sentence = lhs + " is " + f.answer + ".";
      f.question = "What is " + lhs + "?";
      break;
    }
  }
  return f;
}

Sample pair_sample(const U2sFact& f) {
  Sample s;
  s.instruction = f.question;
  s.response = s.answer = f.answer;
  s.task = f.domain;
  return s;
}

void fail(const std::string& key, const std::string& value, const std::string& accepted) {
  throw UserError(key + ": " + value + "; accepted: " + accepted);
}

}  // namespace

std::vector<std::string> u2s_domain_names() { return {kDomains[0], kDomains[1], kDomains[2]}; }

void visit_u2s_corpus_spec(U2sCorpusSpec& s, Visitor& v) {
  v.list("domains", s.domains, u2s_domain_names(), "synthetic corpus domains; [] = all");
  v.integer("docs_min", s.docs_min, 1, 10000, "synthetic: fewest documents per client");
  v.integer("docs_max", s.docs_max, 1, 10000, "synthetic: most documents per client");
  v.integer("facts_per_doc", s.facts_per_doc, 1, 100, "synthetic: fact sentences per document");
  v.number("domain_alpha", s.dirichlet_alpha, 1e-6, 1e6, "synthetic: Dirichlet concentration of each client's domain mix");
  v.number("filler_prob", s.filler_prob, 0.0, 1.0, "synthetic: chance of a fact-free sentence after a fact");
  v.number("repeat_prob", s.repeat_prob, 0.0, 1.0, "synthetic: chance that a fact is restated from an earlier document");
  v.integer("pool_size", s.pool_size, 1, 1000000, "examples in the server pool");
}

void validate_u2s_corpus_spec(const U2sCorpusSpec& s) {
  if (s.n_clients < 1 || s.n_clients > 100000) fail("federation.clients", std::to_string(s.n_clients), "1 to 100000");
  for (const auto& d : s.domains)
    if (std::find(std::begin(kDomains), std::end(kDomains), d) == std::end(kDomains))
      fail("u2s.domains", d, "medicine, knowledge, math");
  if (s.docs_min < 1 || s.docs_max < s.docs_min || s.docs_max > 10000)
    fail("u2s.docs_per_client", std::to_string(s.docs_min) + ".." + std::to_string(s.docs_max), "1 <= min <= max <= 10000");
  if (s.facts_per_doc < 1 || s.facts_per_doc > 100) fail("u2s.facts_per_doc", std::to_string(s.facts_per_doc), "1 to 100");
  if (!(s.dirichlet_alpha > 0.0)) fail("u2s.domain_alpha", detail::format_double(s.dirichlet_alpha), "a number > 0");
  if (!(s.filler_prob >= 0.0 && s.filler_prob <= 1.0)) fail("u2s.filler_prob", detail::format_double(s.filler_prob), "0 to 1");
  if (!(s.repeat_prob >= 0.0 && s.repeat_prob <= 1.0)) fail("u2s.repeat_prob", detail::format_double(s.repeat_prob), "0 to 1");
  if (s.pool_size < 1 || s.pool_size > 1000000) fail("u2s.pool_size", std::to_string(s.pool_size), "1 to 1000000");
  if (s.n_demos < 0 || s.n_demos > 10000000) fail("u2s.generator_demos", std::to_string(s.n_demos), "0 to 10000000");
}

std::string u2s_corpus_spec_yaml(const U2sCorpusSpec& s) {
  std::ostringstream os;
  os << "generator: u2s-corpus\ngenerator_version: 1\nn_clients: " << s.n_clients << "\ndomains: [";
  const std::vector<std::string> doms = s.domains.empty() ? u2s_domain_names() : s.domains;
  for (size_t i = 0; i < doms.size(); ++i) os << (i ? ", " : "") << doms[i];
  os << "]\ndocs_min: " << s.docs_min << "\ndocs_max: " << s.docs_max << "\nfacts_per_doc: " << s.facts_per_doc
     << "\ndirichlet_alpha: " << detail::format_double(s.dirichlet_alpha)
     << "\nfiller_prob: " << detail::format_double(s.filler_prob)
     << "\nrepeat_prob: " << detail::format_double(s.repeat_prob) << "\npool_size: " << s.pool_size << "\nn_demos: " << s.n_demos << "\nseed: " << s.seed
     << "\n";
  return os.str();
}

U2sWorld generate_u2s_world(const U2sCorpusSpec& spec) {
  validate_u2s_corpus_spec(spec);
  const std::vector<std::string> all = u2s_domain_names();
  std::vector<int> doms;  // indices into all, the spec's order
  for (const auto& d : spec.domains.empty() ? all : spec.domains)
    doms.push_back(static_cast<int>(std::find(all.begin(), all.end(), d) - all.begin()));
  U2sWorld w;
  FederatedDataset& c = w.corpus;
  c.name = "u2s-corpus";
  c.kind = DataKind::corpus;
  c.task_names = all;
  c.generator_yaml = u2s_corpus_spec_yaml(spec);
  w.true_pairs.name = "u2s-true-pairs";
  w.true_pairs.kind = DataKind::sft;
  w.true_pairs.task_names = all;
  w.true_pairs.generator_yaml = c.generator_yaml;
  Namer names;
  const int width = std::max(3, static_cast<int>(std::to_string(spec.n_clients - 1).size()));
  for (int ci = 0; ci < spec.n_clients; ++ci) {
    const auto cu = static_cast<uint64_t>(ci);
    Rng mix_rng(spec.seed, cu, 0, Purpose::data_split);
    const std::vector<double> mix = detail::dirichlet(mix_rng, spec.dirichlet_alpha, doms.size());
    const int64_t n_docs = mix_rng.range(spec.docs_min, spec.docs_max);
    std::string cname = std::to_string(ci);
    cname = "client_" + std::string(static_cast<size_t>(width) - std::min(cname.size(), static_cast<size_t>(width)), '0') + cname;
    ClientData cd{cname, {}, {}}, tp{cname, {}, {}};
    std::vector<U2sFact> stated;  // this client's facts so far (repeats restate one)
    for (int64_t doc = 0; doc < n_docs; ++doc) {
      Rng rng(spec.seed, cu, static_cast<uint64_t>(doc), Purpose::data_generation);
      // A document keeps to one domain, drawn from the client's mix.
      const int dom = doms[detail::draw_categorical(rng, mix)];
      std::string text;
      for (int k = 0; k < spec.facts_per_doc; ++k) {
        U2sFact f;
        if (!stated.empty() && rng.uniform() < spec.repeat_prob) {
          f = stated[rng.below(stated.size())];
        } else {
          f = make_fact(dom, rng, names);
          stated.push_back(f);
          tp.samples.push_back(pair_sample(f));
          c.test.push_back(pair_sample(f));
        }
        text += (text.empty() ? "" : " ") + f.sentence;
        if (rng.uniform() < spec.filler_prob) text += std::string(" ") + kFillers[rng.below(count_of(kFillers))];
      }
      Sample s;
      s.response = text;
      s.task = dom;
      cd.samples.push_back(std::move(s));
    }
    c.clients.push_back(std::move(cd));
    w.true_pairs.clients.push_back(std::move(tp));
  }
  // The pool: facts about entities no client mentions, spread evenly over the domains.
  for (int i = 0; i < spec.pool_size; ++i) {
    Rng rng(spec.seed, kPoolStream, static_cast<uint64_t>(i), Purpose::data_generation);
    const U2sFact f = make_fact(doms[static_cast<size_t>(i) % doms.size()], rng, names);
    w.pool.push_back(f);
    c.public_split.push_back(pair_sample(f));
  }
  // Demonstrations for a generator: the server's own facts, on yet other entities.
  for (int i = 0; i < spec.n_demos; ++i) {
    Rng rng(spec.seed, kDemoStream, static_cast<uint64_t>(i), Purpose::data_generation);
    w.demos.push_back(make_fact(doms[static_cast<size_t>(i) % doms.size()], rng, names));
  }
  w.true_pairs.test = c.test;
  w.true_pairs.public_split = c.public_split;
  return w;
}

}  // namespace fedsim::datasets
