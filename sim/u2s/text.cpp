#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "sim/u2s/u2s.hpp"

namespace fedsim::sim::u2s {

std::vector<std::string> chunk(const std::string& text, size_t size, size_t overlap) {
  FEDSIM_ASSERT_MSG(size > 0 && overlap < size, "bad chunking " << size << "/" << overlap);
  std::vector<std::string> out;
  size_t start = 0, prev_end = 0;
  while (start < text.size()) {
    while (start < text.size() && text[start] == ' ') ++start;
    if (start >= text.size()) break;
    size_t end = std::min(text.size(), start + size);
    if (end < text.size()) {
      // Prefer a sentence end, then a word end, inside the window and past the previous piece.
      const std::string window = text.substr(start, end - start + 1);  // +1: a space right after
      size_t cut = window.rfind(". ");
      if (cut != std::string::npos && cut > 0) {
        end = start + cut + 1;
      } else if ((cut = window.rfind(' ')) != std::string::npos && cut > 0) {
        end = start + cut;
      }
    }
    if (end <= prev_end) {  // nothing new: continue right after the previous piece instead
      start = prev_end;
      continue;
    }
    prev_end = end;
    out.push_back(text.substr(start, end - start));
    if (end >= text.size()) break;
    size_t next = end > overlap ? end - overlap : 0;
    if (next <= start) next = end;  // always move forward
    // Start at a word: skip to just after the next space unless already at a word start.
    if (next > 0 && text[next - 1] != ' ' && next < end) {
      const size_t sp = text.find(' ', next);
      next = sp == std::string::npos || sp >= end ? end : sp + 1;
    }
    start = next;
  }
  return out;
}

// --- TF-IDF --------------------------------------------------------------------------------------

std::vector<uint32_t> TfidfEmbedder::grams(const std::string& text) const {
  std::string t = " " + text + " ";
  for (char& ch : t) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  std::vector<uint32_t> out;
  if (t.size() < static_cast<size_t>(n_)) return out;
  for (size_t i = 0; i + static_cast<size_t>(n_) <= t.size(); ++i) {
    uint32_t h = 2166136261u;  // FNV-1a
    for (int j = 0; j < n_; ++j) h = (h ^ static_cast<unsigned char>(t[i + static_cast<size_t>(j)])) * 16777619u;
    out.push_back(h % static_cast<uint32_t>(dim_));
  }
  return out;
}

TfidfEmbedder::TfidfEmbedder(const std::vector<std::string>& corpus, int n, int dim) : n_(n), dim_(dim) {
  std::vector<float> df(static_cast<size_t>(dim), 0.0f);
  for (const auto& doc : corpus) {
    std::vector<uint32_t> g = grams(doc);
    std::sort(g.begin(), g.end());
    g.erase(std::unique(g.begin(), g.end()), g.end());
    for (uint32_t b : g) df[b] += 1.0f;
  }
  const auto N = static_cast<double>(corpus.size());
  idf_.resize(static_cast<size_t>(dim));
  for (size_t b = 0; b < idf_.size(); ++b) idf_[b] = static_cast<float>(std::log((1.0 + N) / (1.0 + df[b])) + 1.0);
}

std::vector<float> TfidfEmbedder::embed(const std::string& text) const {
  std::vector<float> v(static_cast<size_t>(dim_), 0.0f);
  for (uint32_t b : grams(text)) v[b] += 1.0f;
  double norm2 = 0.0;
  for (size_t b = 0; b < v.size(); ++b) {
    v[b] *= idf_[b];
    norm2 += static_cast<double>(v[b]) * v[b];
  }
  if (norm2 > 0) {
    const auto inv = static_cast<float>(1.0 / std::sqrt(norm2));
    for (float& x : v) x *= inv;
  }
  return v;
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// --- Selection --------------------------------------------------------------------------------

Selector::Selector(const std::vector<PoolExample>& pool, Selection mode, int k, int ngram, int dim,
                   const models::Model* hidden)
    : pool_(pool), mode_(mode), k_(std::min(static_cast<size_t>(k), pool.size())), hidden_(hidden) {
  if (mode_ != Selection::retrieval) return;
  // Pool examples are embedded by their pair (the text a client sees), idf fitted on them.
  std::vector<std::string> texts;
  for (const auto& e : pool_) texts.push_back(e.instruction + " " + e.response);
  if (hidden_) {
    pool_vecs_ = hidden_->embed(texts);
    return;
  }
  emb_ = std::make_unique<TfidfEmbedder>(texts, ngram, dim);
  for (const auto& t : texts) pool_vecs_.push_back(emb_->embed(t));
}

std::vector<float> Selector::embed(const std::string& text) const {
  return hidden_ ? hidden_->embed({text}).front() : emb_->embed(text);
}

std::vector<size_t> Selector::select(const std::string& piece, uint64_t rng_key, long exclude) const {
  std::vector<size_t> idx(pool_.size());
  std::iota(idx.begin(), idx.end(), size_t{0});
  if (exclude >= 0) idx.erase(idx.begin() + exclude);
  const size_t k = std::min(k_, idx.size());
  if (mode_ == Selection::fixed) return {idx.begin(), idx.begin() + static_cast<long>(k)};
  if (mode_ == Selection::random) {
    Rng rng(rng_key);
    for (size_t i = 0; i < k; ++i) std::swap(idx[i], idx[i + rng.below(idx.size() - i)]);
    return {idx.begin(), idx.begin() + static_cast<long>(k)};
  }
  const std::vector<float> q = embed(piece);
  std::vector<double> score(pool_.size());
  for (size_t i : idx) score[i] = cosine(q, pool_vecs_[i]);
  std::partial_sort(idx.begin(), idx.begin() + static_cast<long>(k), idx.end(),
                    [&](size_t a, size_t b) { return score[a] != score[b] ? score[a] > score[b] : a < b; });
  return {idx.begin(), idx.begin() + static_cast<long>(k)};
}

// --- Prompts ------------------------------------------------------------------------------------

std::string format_pair(const std::string& instruction, const std::string& response) {
  return "Q:" + instruction + "\nA:" + response;
}

std::string format_prompt(const std::vector<PoolExample>& pool, const std::vector<size_t>& examples, const std::string& piece,
                          size_t pad_to) {
  std::string p;
  for (size_t i : examples) p += format_pair(pool[i].instruction, pool[i].response) + "\n";
  if (p.size() < pad_to) p.insert(0, pad_to - p.size(), ' ');
  return p + "T:" + piece + "\n";
}

size_t examples_width(const std::vector<PoolExample>& pool, size_t k) {
  std::vector<size_t> len;
  for (const auto& e : pool) len.push_back(format_pair(e.instruction, e.response).size() + 1);
  std::sort(len.begin(), len.end(), std::greater<>());
  return std::accumulate(len.begin(), len.begin() + static_cast<long>(std::min(k, len.size())), size_t{0});
}

std::string piece_of_prompt(const std::string& prompt) {
  // The piece follows the last "T:" that starts a line (a piece may itself contain "T:").
  size_t at = prompt.rfind("\nT:");
  at = at != std::string::npos ? at + 1 : prompt.rfind("T:", 0) == 0 ? 0 : std::string::npos;
  if (at == std::string::npos) return prompt;
  std::string p = prompt.substr(at + 2);
  while (!p.empty() && (p.back() == '\n' || p.back() == ' ')) p.pop_back();
  return p;
}

}  // namespace fedsim::sim::u2s
