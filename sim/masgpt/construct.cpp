#include "sim/masgpt/construct.hpp"

#include <map>

#include "common/error.hpp"
#include "common/h5.hpp"
#include "sim/masgpt/library.hpp"

namespace fedsim::sim::masgpt {
namespace {

std::vector<std::string> texts_of(const std::vector<Query>& q) {
  std::vector<std::string> t;
  for (const Query& x : q) t.push_back(x.text);
  return t;
}

std::string group_key(const Query& q, size_t i, InterGroups inter) {
  if (inter == InterGroups::family) return "f" + std::to_string(q.family);
  if (inter == InterGroups::set) return "s" + std::to_string(q.set);
  return "q" + std::to_string(i);
}

}  // namespace

MasDataset construct(const std::vector<QuerySet>& sets, const std::vector<Query>& queries, llm::Backend& backend,
                     const ExecConfig& exec, const ConstructConfig& cc, const Log& log) {
  MasDataset d;
  for (const QuerySet& s : sets) d.sets.push_back(s.name);
  d.families = family_names(sets);
  d.base = cc.base;
  d.queries = queries;
  const size_t nq = queries.size(), nb = cc.base.size();
  FEDSIM_ASSERT(nb > 0);
  const std::vector<std::string> texts = texts_of(queries);
  d.scores.assign(nq * nb, 0);
  std::vector<int> calls(nb);
  for (size_t b = 0; b < nb; ++b) {
    const Mas m = parse_mas(base_mas(cc.base[b], "masgpt.base").text, exec.limits);
    calls[b] = m.calls();
    const std::vector<QueryRun> runs = execute_same(m, texts, backend, exec);
    int64_t right = 0;
    for (size_t i = 0; i < nq; ++i) {
      d.scores[i * nb + b] = runs[i].answer == queries[i].answer ? 1 : 0;
      right += d.scores[i * nb + b];
    }
    if (log)
      log("masgpt: scored " + cc.base[b] + " on " + std::to_string(nq) + " construction queries: " +
          std::to_string(right) + " right");
  }
  // Inter-consistency: best summed score over the group; ties to fewer calls, then library order.
  std::map<std::string, std::vector<int64_t>> sums;
  for (size_t i = 0; i < nq; ++i) {
    std::vector<int64_t>& s = sums[group_key(queries[i], i, cc.inter)];
    s.resize(nb, 0);
    for (size_t b = 0; b < nb; ++b) s[b] += d.scores[i * nb + b];
  }
  std::map<std::string, int32_t> best;
  for (const auto& [key, s] : sums) {
    size_t bi = 0;
    for (size_t b = 1; b < nb; ++b)
      if (s[b] > s[bi] || (s[b] == s[bi] && calls[b] < calls[bi])) bi = b;
    best[key] = static_cast<int32_t>(bi);
  }
  d.chosen.resize(nq);
  d.adjusted.assign(nq, 0);
  d.mas.resize(nq);
  for (size_t i = 0; i < nq; ++i) {
    d.chosen[i] = best[group_key(queries[i], i, cc.inter)];
    d.mas[i] = to_text(parse_mas(base_mas(cc.base[static_cast<size_t>(d.chosen[i])], "masgpt.base").text, exec.limits));
  }
  if (!cc.intra) return d;
  // Intra-consistency: one drawn adjustment per query, kept when the score does not drop.
  std::vector<std::string> cand(nq);
  std::vector<size_t> tried;
  for (size_t i = 0; i < nq; ++i) {
    Mas m = parse_mas(d.mas[i], exec.limits);
    Rng rng(cc.seed, i, 0, Purpose::data_split);
    if (!adjust_mas(m, rng.next_u64())) continue;
    try {
      validate_mas(m, exec.limits);
    } catch (const MasError&) {
      continue;
    }
    cand[i] = to_text(m);
    tried.push_back(i);
  }
  d.adjustments_tried = static_cast<int64_t>(tried.size());
  if (tried.empty()) return d;
  std::vector<std::string> t_texts, t_queries;
  for (size_t i : tried) {
    t_texts.push_back(cand[i]);
    t_queries.push_back(texts[i]);
  }
  ExecConfig e = exec;
  e.seed = exec.seed + 1;  // the adjusted MAS samples afresh
  const std::vector<QueryRun> runs = execute_texts(t_texts, t_queries, backend, e);
  int64_t kept = 0;
  for (size_t j = 0; j < tried.size(); ++j) {
    const size_t i = tried[j];
    const int before = d.scores[i * nb + static_cast<size_t>(d.chosen[i])];
    const int after = runs[j].outcome == Outcome::ok && runs[j].answer == queries[i].answer ? 1 : 0;
    if (after >= before) {
      d.mas[i] = cand[i];
      d.adjusted[i] = 1;
      ++kept;
    }
  }
  if (log)
    log("masgpt: intra-consistency kept " + std::to_string(kept) + " of " + std::to_string(tried.size()) +
        " adjustments");
  return d;
}

std::vector<std::pair<std::string, std::string>> training_pairs(const MasDataset& d) {
  std::vector<std::pair<std::string, std::string>> p;
  for (size_t i = 0; i < d.queries.size(); ++i) p.emplace_back(d.queries[i].text, d.mas[i]);
  return p;
}

void write_mas_dataset(const MasDataset& d, const std::string& path) {
  h5::AtomicFile out(path);
  const h5::Group root = out.root();
  h5::set_format(root, kDataFormatKind, kDataFormatVersion);
  root.write_strings("set_names", d.sets);
  root.write_strings("family_names", d.families);
  root.write_strings("base_names", d.base);
  std::vector<std::string> q, a;
  std::vector<int32_t> fam, set;
  for (const Query& x : d.queries) {
    q.push_back(x.text);
    a.push_back(x.answer);
    fam.push_back(x.family);
    set.push_back(x.set);
  }
  root.write_strings("query", q);
  root.write_strings("answer", a);
  root.write("family", fam);
  root.write("set", set);
  root.write("scores", d.scores, {static_cast<hsize_t>(q.size()), static_cast<hsize_t>(d.base.size())});
  root.write("chosen", d.chosen);
  root.write("adjusted", d.adjusted);
  root.write_strings("mas", d.mas);
  root.set_attr("adjustments_tried", d.adjustments_tried);
  out.commit();
}

MasDataset read_mas_dataset(const std::string& path) {
  const h5::File f = h5::File::open_read(path);
  h5::check_format(f, kDataFormatKind, kDataFormatVersion);
  const h5::Group root = f.root();
  MasDataset d;
  d.sets = root.read_strings("set_names");
  d.families = root.read_strings("family_names");
  d.base = root.read_strings("base_names");
  const std::vector<std::string> q = root.read_strings("query"), a = root.read_strings("answer");
  const std::vector<int32_t> fam = root.read<int32_t>("family"), set = root.read<int32_t>("set");
  d.scores = root.read<uint8_t>("scores");
  d.chosen = root.read<int32_t>("chosen");
  d.adjusted = root.read<uint8_t>("adjusted");
  d.mas = root.read_strings("mas");
  d.adjustments_tried = root.attr_int("adjustments_tried");
  const size_t n = q.size();
  if (a.size() != n || fam.size() != n || set.size() != n || d.scores.size() != n * d.base.size() ||
      d.chosen.size() != n || d.adjusted.size() != n || d.mas.size() != n)
    throw UserError(path + ": MAS-GPT data set with inconsistent lengths; HINT: rebuild it with fedsim masgpt run");
  for (size_t i = 0; i < n; ++i) d.queries.push_back({q[i], a[i], fam[i], set[i]});
  return d;
}

}  // namespace fedsim::sim::masgpt
