#include "sim/config.hpp"
#include "sim/config_schema.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "common/error.hpp"
#include "datasets/dataset.hpp"
#include "models/text/chat_template.hpp"
#include "sim/yaml_checks.hpp"

namespace fedsim::sim {
namespace {

constexpr int64_t kMaxInt = kConfigMaxInt;
constexpr double kHuge = kConfigHuge;

const std::vector<std::string> kPresets{"nano", "tiny", "small", "gpt2-124m"};

// model.template: auto, or a template of models/text/chat_template.cpp.
const std::vector<std::string>& template_choices() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n{"auto"};
    for (const std::string& t : models::chat_template_names()) n.push_back(t);
    return n;
  }();
  return names;
}
const std::vector<std::string> kLoraTargets{"q",      "k",      "v",      "o",      "mlp_up",    "mlp_down",
                                            "mlp_gate", "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                            "up_proj", "down_proj"};

// The whole schema. Order here is the order of reference.yaml and of the resolved config.
void visit_config(ExperimentConfig& c, Visitor& v) {
  v.section("experiment", "what to run and where results go");
  v.text("name", c.experiment.name, "experiment name; names the default results file");
  v.integer("seed", c.experiment.seed, 0, kMaxInt, "root of every random stream (data, sampling, init, dropout)");
  v.text("out", c.experiment.out, "results HDF5 file; empty = results/<name>.h5");
  v.text("cache_dir", c.experiment.cache_dir,
         "cache for generated data and pretrained base models; empty = $FEDSIM_CACHE or ~/.cache/fedsim");
  v.integer("checkpoint_every", c.experiment.checkpoint_every, 0, 1000000000,
            "write the whole simulation state to <out>.ckpt every k rounds (and on SIGINT/SIGTERM); 0 = only on signals");
  v.number("max_memory_gb", c.experiment.max_memory_gb, 0.0, 1e6,
           "refuse a run whose memory estimate (printed at its start) is above this many GiB; 0 = the machine's memory");

  v.section("data", "federated data set");
  v.pick("source", c.data.source, "synthetic = generate (cached by parameters); file = read data.path");
  v.text("path", c.data.path, "fedsim-dataset HDF5 file, for source: file");
  datasets::visit_synthetic_spec(c.data.synthetic, v);

  v.section("model", "base transformer, its tokenizer and chat template");
  v.pick("source", c.model.source, "preset: fedsim's GPT (preset, pretrained here); hf: a Hugging Face folder (model.path)");
  v.text("path", c.model.path, "source hf: model folder (config.json, model.safetensors or shards)");
  v.pick("base_dtype", c.model.base_dtype, "source hf: storage of the frozen base (bf16: half)");
  v.choice("template", c.model.chat_template, template_choices(),
           "chat template of every text (models/README.md \"Which template\"); auto: fedsim-bytes for presets, the "
           "folder's format for hf (llama-3, chatml, qwen2.5, qwen3), else FedLLM-Bench's alpaca / vicuna_v1.1 / plain");
  v.choice("preset", c.model.preset, kPresets, "shape preset");
  v.integer("seq_len", c.model.seq_len, 0, 65536, "context length; 0 = preset's");
  v.integer("d_model", c.model.d_model, 0, 65536, "0 = preset's");
  v.integer("n_layers", c.model.n_layers, 0, 1024, "0 = preset's");
  v.integer("n_heads", c.model.n_heads, 0, 1024, "0 = preset's");
  v.integer("d_ff", c.model.d_ff, 0, 262144, "0 = preset's");
  v.integer("pretrain_steps", c.model.pretrain_steps, 0, 10000000,
            "full-parameter steps on the public split before federated tuning (cached)");
  v.integer("pretrain_batch", c.model.pretrain_batch, 1, 65536, "pretraining batch size");
  v.number("pretrain_lr", c.model.pretrain_lr, 0.0, 10.0, "pretraining learning rate (cosine to 10%)");
  v.text("checkpoint", c.model.checkpoint, "base model checkpoint (HDF5); empty = pretrain and cache");
  v.pick("products", c.model.products,
           "dense products: blas = fastest, bits depend on the BLAS kernel and product shape; portable = same bits "
           "for batched/sequential, packed/padded and any BLAS (slower)");

  v.section("lora", "adapters trained by the clients (Hu et al., LoRA, 2021)");
  v.integer("rank", c.lora.rank, 1, 4096, "adapter rank r");
  v.number("alpha", c.lora.alpha, 0.0, 1e6, "scale alpha/r");
  v.number("dropout", c.lora.dropout, 0.0, 0.99, "dropout on the adapter input");
  v.list("targets", c.lora.targets, kLoraTargets, "projections that carry adapters (mlp_gate and PEFT names: hf)");
  v.text("export_dir", c.lora.export_dir, "source hf: write the final global adapter here in PEFT's format");

  v.section("federation", "rounds, clients and the server's rule");
  v.pick("algorithm", c.federation.algorithm, "training and server rule (sim/README.md \"Algorithms\")");
  v.pick("mode", c.federation.mode, "sync rounds, or async FedBuff");
  v.pick("trainer", c.federation.trainer, "model = real LoRA training; none = simulate the system only");
  v.pick("execution", c.federation.execution,
           "wall time only: batched = clients due to finish training train together (one base product for all); "
           "sequential = one after another");
  v.flag("packing", c.federation.packing,
           "batched only: on = each sequence computed up to its last target token, no padding rows (same losses and "
           "gradients up to float rounding); off = padded rows too, bit for bit the sequential results");
  v.integer("batch_memory_mb", c.federation.batch_memory_mb, 1, 1 << 30,
            "batched only: activation memory (MiB) of one stacked step; clients beyond it train in the next group "
            "(wall time and memory only)");
  v.pick("sampling", c.federation.sampling,
           "uniform = seeded per round among online clients; fedllm-bench = Python's random.seed(r); random.sample");
  v.pick("weighting", c.federation.weighting,
           "client weights; auto = data size for FedAvg-like rules, uniform for FedOpt (as OpenFedLLM)");
  v.integer("local_client", c.federation.local_client, -1, 1000000, "algorithm local: the client that trains; -1 = each client separately");
  v.integer("clients", c.federation.clients, 1, 1000000, "number of clients N");
  v.integer("clients_per_round", c.federation.clients_per_round, 1, 1000000, "clients sampled per round m");
  v.integer("rounds", c.federation.rounds, 1, 1000000, "communication rounds R");
  v.integer("local_steps", c.federation.local_steps, 1, 1000000, "optimizer steps per client per round");
  v.pick("local_draw", c.federation.local_draw,
           "a client's samples of the round: fedllm-bench = Python's random.seed(r); random.sample(range(n_i), "
           "min(batch*steps, n_i)), the same seed for every client; per-client = a (seed, client, round) stream; "
           "auto = fedllm-bench when sampling is fedllm-bench. Batch order inside the round is fedsim's own");
  v.integer("batch_size", c.federation.batch_size, 1, 65536, "samples per step");
  v.number("lr", c.federation.lr, 0.0, 10.0, "peak learning rate (round 0)");
  v.number("lr_min", c.federation.lr_min, 0.0, 10.0, "cosine floor reached at the last round");
  v.number("weight_decay", c.federation.weight_decay, 0.0, 10.0, "AdamW decoupled weight decay");
  v.number("grad_clip", c.federation.grad_clip, 0.0, kHuge, "clip local gradients to this global norm; 0 = off");
  v.integer("eval_every", c.federation.eval_every, 1, 1000000, "evaluate the global adapter every k rounds (and at the end)");
  v.integer("client_eval_every", c.federation.client_eval_every, 0, 1000000,
            "evaluate the global adapter on every client's own data every k rounds (fairness); 0 = off");
  v.integer("client_eval_samples", c.federation.client_eval_samples, 1, 1000000, "samples per client in client eval");
  v.pick("local_steps_mode", c.federation.local_steps_mode,
           "fixed = local_steps; proportional = ceil(local_epochs*n_i*N/(R*m)/batch) (FedLLM-Bench DPO)");
  v.number("local_epochs", c.federation.local_epochs, 1e-6, 1e6, "proportional local steps: epochs over the run");
  v.integer("local_steps_rounds", c.federation.local_steps_rounds, 0, 1000000,
            "proportional local steps: the R of the formula; 0 = rounds. A config that runs fewer rounds than "
            "published sets the published R here to keep the published local work per participation");
  v.number("prox_mu", c.federation.prox_mu, 0.0, 1e6, "FedProx proximal weight mu; 0.01 in OpenFedLLM and FedLLM-Bench");
  v.number("server_beta1", c.federation.server_beta1, 0.0, 0.999999,
           "FedAvgM / FedYogi / FedAdam momentum; default 0.9 = OpenFedLLM's, FedLLM-Bench's is 0.5 (configs/fed-*.yaml)");
  v.number("server_beta2", c.federation.server_beta2, 0.0, 0.999999,
           "FedYogi / FedAdam second-moment decay; 0.99 in OpenFedLLM and FedLLM-Bench");
  v.number("server_eta", c.federation.server_eta, 0.0, 1e6, "FedOpt server learning rate; 1e-3 in OpenFedLLM and FedLLM-Bench");
  v.number("server_tau", c.federation.server_tau, 1e-12, 1e6, "FedOpt adaptivity tau; 1e-3 in OpenFedLLM and FedLLM-Bench");
  v.number("dpo_beta", c.federation.dpo_beta, 1e-6, 1e6, "FedDPO: DPO temperature beta; 0.1 in OpenFedLLM and FedLLM-Bench");
  v.number("overcommit", c.federation.overcommit, 1.0, 100.0, "sync: select ceil(overcommit*m) clients, keep the first m");
  v.number("deadline_s", c.federation.deadline_s, 0.0, 1e12, "sync: round deadline in simulated s; 0 = wait for all");
  v.integer("async_concurrency", c.federation.async_concurrency, 1, 1000000, "async: clients training at once");
  v.integer("async_buffer", c.federation.async_buffer, 1, 1000000, "async: aggregate every K updates");
  v.number("staleness_exponent", c.federation.staleness_exponent, 0.0, 100.0, "async: update weight 1/(1+s)^a");
  v.integer("max_staleness", c.federation.max_staleness, 0, 1000000000, "async: drop updates staler than this");

  v.section("system", "client compute and network (FedScale-style, sampled per client)");
  v.number("compute_gflops", c.system.compute_gflops, 1e-6, 1e9, "median client training throughput, GFLOP/s");
  v.number("compute_sigma", c.system.compute_sigma, 0.0, 5.0, "lognormal sigma of client speed");
  v.number("bandwidth_mbps", c.system.bandwidth_mbps, 1e-6, 1e9, "median client bandwidth, Mbit/s (up and down)");
  v.number("bandwidth_sigma", c.system.bandwidth_sigma, 0.0, 5.0, "lognormal sigma of client bandwidth");
  v.number("latency_ms", c.system.latency_ms, 0.0, 1e9, "latency added to every transfer, ms");
  v.text("trace", c.system.trace, "CSV with header client,gflops,mbps; replaces the draws (sim/TRACES.md)");
  v.pick("availability", c.system.availability, "when clients are online");
  v.text("availability_trace", c.system.availability_trace, "CSV with header client,start_s,end_s (sim/TRACES.md)");
  v.number("online_hours", c.system.online_hours, 0.01, 24.0, "diurnal: mean online hours per day");
  v.number("dropout_prob", c.system.dropout_prob, 0.0, 1.0, "probability that a task fails at a uniform time inside it");
  v.number("server_gflops", c.system.server_gflops, 1e-6, 1e12,
           "the server's throughput for its own jobs, GFLOP/s (eval: generating the answers)");

  v.section("privacy", "differential privacy on client updates");
  v.pick("mechanism", c.privacy.mechanism, "gaussian = clip each update to clip, add N(0, sigma^2)");
  v.number("epsilon", c.privacy.epsilon, 1e-6, 1e6, "privacy budget epsilon");
  v.number("delta", c.privacy.delta, 1e-12, 0.5, "privacy delta");
  v.number("clip", c.privacy.clip, 1e-12, 1e12, "L2 norm bound C of each client's update");
  v.pick("noise_lr", c.privacy.noise_lr,
           "the lr in sigma's sensitivity 2*lr*C/(samples/N): initial = federation.lr in every round (FedLLM-Bench); "
           "round = the round's cosine lr (noise shrinks with the steps)");

  for (auto& s : c.features.items) s->visit(v);
}

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string nearest(const std::string& key, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::numeric_limits<size_t>::max();
  for (const auto& c : candidates) {
    const size_t d = edit_distance(key.substr(0, 64), c);  // quadratic: a megabyte key would hang
    if (d < best_d) { best_d = d; best = c; }
  }
  return best;
}

// Shortest decimal that reads back to the same double.
std::string format_double(double x) {
  char buf[64];
  if (x == std::trunc(x) && std::fabs(x) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.1f", x);
    return buf;
  }
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  std::string s = buf;
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // keep it visibly a float
  return s;
}

// A YAML double-quoted scalar that reads back to `s`: a raw line break would fold into a space,
// so control characters are escaped (\xNN reads back as the same single byte below 0x80).
std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    const unsigned char u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (ch == '\n') {
      out += "\\n";
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

// Offset of the first byte that is not well-formed UTF-8 (RFC 3629: no overlongs, surrogates or
// code points above U+10FFFF), or npos.
size_t invalid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // range of the second byte
    if (c < 0x80) len = 1;
    else if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) len = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    else return i;
    if (i + len > s.size()) return i;
    for (size_t k = 1; k < len; ++k) {
      const unsigned char b = static_cast<unsigned char>(s[i + k]);
      if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xbf)) return i;
    }
    i += len;
  }
  return std::string::npos;
}

std::string describe(const YAML::Node& n) {
  if (n.IsMap()) return "a mapping";
  if (n.IsSequence()) return "a list";
  if (n.IsNull()) return "nothing";
  return "'" + n.Scalar() + "'";
}

class KeyLister : public Visitor {
 public:
  std::vector<std::string> sections, keys;
  std::string cur;
  void section(const char* name, const char*) override { cur = name; sections.push_back(name); }
  void add(const char* k) { keys.push_back(cur + "." + k); }
  void integer(const char* k, int64_t&, int64_t, int64_t, const char*) override { add(k); }
  void number(const char* k, double&, double, double, const char*) override { add(k); }
  void text(const char* k, std::string&, const char*) override { add(k); }
  void choice(const char* k, std::string&, const std::vector<std::string>&, const char*) override { add(k); }
  void option(const char* k, int&, const std::vector<std::string>&, const char*) override { add(k); }
  void list(const char* k, std::vector<std::string>&, const std::vector<std::string>&, const char*) override { add(k); }
};

KeyLister list_keys() {
  ExperimentConfig c;
  KeyLister l;
  visit_config(c, l);
  return l;
}

class Loader : public Visitor {
 public:
  // `from_set`: keys given by --set, with their assignment (a bad value is blamed on it).
  Loader(const YAML::Node& root, std::string source, std::map<std::string, std::string> from_set = {})
      : root_(root), source_(std::move(source)), from_set_(std::move(from_set)) {}
  void section(const char* name, const char*) override {
    sec_name_ = name;
    sec_ = root_[name];
    if (sec_ && !sec_.IsMap() && !sec_.IsNull()) fail(name, "expected a mapping of keys, got " + describe(sec_));
  }
  void integer(const char* k, int64_t& v, int64_t lo, int64_t hi, const char*) override {
    const YAML::Node n = get(k);
    if (!n) return;
    const std::string s = scalar(k, n, "an integer");
    char* end = nullptr;
    errno = 0;
    const long long x = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || errno == ERANGE) fail(k, "expected an integer, got '" + s + "'");
    if (x < lo || x > hi)
      fail(k, s + " is out of range; accepted: " + std::to_string(lo) + " to " + (hi == kMaxInt ? "any" : std::to_string(hi)));
    v = x;
  }
  void number(const char* k, double& v, double lo, double hi, const char*) override {
    const YAML::Node n = get(k);
    if (!n) return;
    const std::string s = scalar(k, n, "a number");
    std::string low = s;
    for (auto& ch : low) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (low == ".nan" || low == ".inf" || low == "+.inf" || low == "-.inf")  // YAML 1.2 spellings
      fail(k, "expected a finite number, got '" + s + "'");
    char* end = nullptr;
    const double x = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0') fail(k, "expected a number, got '" + s + "'");
    if (!std::isfinite(x)) fail(k, "expected a finite number, got '" + s + "'");
    if (x < lo || x > hi)
      fail(k, s + " is out of range; accepted: " + format_double(lo) + " to " + (hi >= kHuge ? "any" : format_double(hi)));
    v = x;
  }
  void text(const char* k, std::string& v, const char*) override {
    const YAML::Node n = get(k);
    if (!n) return;
    v = n.IsNull() ? "" : scalar(k, n, "a string");
  }
  void choice(const char* k, std::string& v, const std::vector<std::string>& accepted, const char*) override {
    const YAML::Node n = get(k);
    if (!n) return;
    const std::string s = n.IsNull() ? "" : scalar(k, n, "one of " + join(accepted));
    if (std::find(accepted.begin(), accepted.end(), s) == accepted.end())
      fail(k, "'" + s + "' is not accepted; accepted: " + join(accepted));
    v = s;
  }
  void option(const char* k, int& v, const std::vector<std::string>& names, const char* doc) override {
    std::string s = names[static_cast<size_t>(v)];
    choice(k, s, names, doc);
    v = static_cast<int>(std::find(names.begin(), names.end(), s) - names.begin());
  }
  void list(const char* k, std::vector<std::string>& v, const std::vector<std::string>& accepted, const char*) override {
    const YAML::Node n = get(k);
    if (!n) return;
    if (!n.IsSequence()) fail(k, "expected a list such as [a, b], got " + describe(n));
    std::vector<std::string> out;
    for (const auto& item : n) {
      const std::string s = scalar(k, item, "a list of names");
      if (!accepted.empty() && std::find(accepted.begin(), accepted.end(), s) == accepted.end())
        fail(k, "'" + s + "' is not accepted; accepted: " + join(accepted));
      if (std::find(out.begin(), out.end(), s) != out.end()) fail(k, "'" + s + "' is listed twice");
      out.push_back(s);
    }
    v = out;
  }

 private:
  YAML::Node get(const char* k) const {
    if (!sec_ || sec_.IsNull()) return YAML::Node(YAML::NodeType::Undefined);
    return sec_[k];
  }
  std::string scalar(const char* k, const YAML::Node& n, const std::string& expected) const {
    if (!n.IsScalar()) fail(k, "expected " + expected + ", got " + describe(n));
    const std::string& s = n.Scalar();
    if (const size_t at = invalid_utf8(s); at != std::string::npos)
      fail(k, "byte " + std::to_string(at) + " of the value is not UTF-8; accepted: UTF-8 text");
    if (s.find('\0') != std::string::npos)
      fail(k, "the value holds a NUL character (byte " + std::to_string(s.find('\0')) + "); accepted: text without NUL");
    return s;
  }
  [[noreturn]] void fail(const char* k, const std::string& what) const {
    const std::string key = (sec_name_ == k ? std::string(k) : sec_name_ + "." + k);
    const auto set = from_set_.find(key);
    throw UserError((set == from_set_.end() ? source_ : "--set " + set->second) + ": " + key + ": " + what);
  }
  YAML::Node root_, sec_;
  std::string source_, sec_name_;
  std::map<std::string, std::string> from_set_;
};

class Emitter : public Visitor {
 public:
  explicit Emitter(bool docs) : docs_(docs) {}
  std::ostringstream os;
  void section(const char* name, const char* doc) override {
    if (docs_) os << (first_ ? "" : "\n") << "# " << doc << "\n";
    first_ = false;
    os << name << ":\n";
  }
  void integer(const char* k, int64_t& v, int64_t lo, int64_t hi, const char* doc) override {
    line(k, std::to_string(v), doc, std::to_string(lo) + " to " + (hi == kMaxInt ? "any" : std::to_string(hi)));
  }
  void number(const char* k, double& v, double lo, double hi, const char* doc) override {
    line(k, format_double(v), doc, format_double(lo) + " to " + (hi >= kHuge ? "any" : format_double(hi)));
  }
  void text(const char* k, std::string& v, const char* doc) override { line(k, quote(v), doc, "any text"); }
  void choice(const char* k, std::string& v, const std::vector<std::string>& a, const char* doc) override {
    std::vector<std::string> shown;
    for (const auto& x : a) shown.push_back(x.empty() ? "\"\"" : x);
    line(k, v.empty() ? "\"\"" : v, doc, join(shown, " | "));
  }
  void option(const char* k, int& v, const std::vector<std::string>& names, const char* doc) override {
    std::string s = names[static_cast<size_t>(v)];
    choice(k, s, names, doc);
  }
  void list(const char* k, std::vector<std::string>& v, const std::vector<std::string>& a, const char* doc) override {
    std::vector<std::string> q;
    for (const auto& s : v) q.push_back(quote(s));
    line(k, "[" + join(q) + "]", doc, a.empty() ? "list of names" : "list of " + join(a, ", "));
  }

 private:
  void line(const char* k, const std::string& value, const char* doc, const std::string& accepted) {
    os << "  " << k << ": " << value;
    if (docs_) os << "  # " << doc << " (" << accepted << ")";
    os << "\n";
  }
  bool docs_;
  bool first_ = true;
};

void check_unknown_keys(const YAML::Node& root, const std::string& source) {
  if (!root.IsMap()) throw UserError(source + ": expected a mapping of sections (experiment, data, ...) at the top level");
  const KeyLister keys = list_keys();
  for (const auto& kv : root) {
    const std::string sec = kv.first.Scalar();
    if (std::find(keys.sections.begin(), keys.sections.end(), sec) == keys.sections.end())
      throw UserError(source + ": unknown key '" + sec + "' at " + sec + "; nearest valid key: " + nearest(sec, keys.sections));
    if (!kv.second.IsMap()) continue;  // the Loader reports the type
    for (const auto& item : kv.second) {
      const std::string path = sec + "." + item.first.Scalar();
      if (std::find(keys.keys.begin(), keys.keys.end(), path) == keys.keys.end())
        throw UserError(source + ": unknown key '" + item.first.Scalar() + "' at " + path +
                        "; nearest valid key: " + nearest(path, keys.keys));
    }
  }
}

// Returns the key it sets ("section.key").
std::string apply_override(YAML::Node& root, const std::string& assignment) {
  const std::string src = "--set " + assignment;
  const size_t eq = assignment.find('=');
  const size_t dot = assignment.find('.');
  if (eq == std::string::npos || dot == std::string::npos || dot > eq)
    throw UserError(src + ": expected section.key=value, for example federation.rounds=20");
  const std::string sec = assignment.substr(0, dot), key = assignment.substr(dot + 1, eq - dot - 1);
  const std::string value = assignment.substr(eq + 1);
  YAML::Node parsed;
  try {
    parsed = YAML::Load(value);
  } catch (const YAML::Exception& e) {
    throw UserError(src + ": cannot parse the value: " + e.msg);
  }
  YAML::Node probe(YAML::NodeType::Map);
  probe[sec][key] = parsed;
  check_unknown_keys(probe, "--set");
  if (!root[sec] || !root[sec].IsMap()) root[sec] = YAML::Node(YAML::NodeType::Map);
  root[sec][key] = parsed.IsNull() ? YAML::Node("") : parsed;
  return sec + "." + key;
}

void check_cross_fields(const ExperimentConfig& c, const std::string& source) {
  if (c.federation.clients_per_round > c.federation.clients)
    throw UserError(source + ": federation.clients_per_round: " + std::to_string(c.federation.clients_per_round) +
                    " is more than federation.clients (" + std::to_string(c.federation.clients) +
                    "); accepted: 1 to " + std::to_string(c.federation.clients));
  if (c.federation.lr_min > c.federation.lr)
    throw UserError(source + ": federation.lr_min: " + format_double(c.federation.lr_min) +
                    " is above federation.lr (" + format_double(c.federation.lr) + "); accepted: 0 to " +
                    format_double(c.federation.lr));
  if (c.data.source == DataSource::file && c.data.path.empty())
    throw UserError(source + ": data.path: empty; data.source: file needs the path of a fedsim-dataset HDF5 file");
  if (c.data.source == DataSource::file && !std::filesystem::exists(c.data.path))
    throw UserError(source + ": data.path: " + c.data.path + ": no such file");
  auto check_file = [&](const std::string& key, const std::string& path) {
    if (!path.empty() && !std::filesystem::exists(path)) throw UserError(source + ": " + key + ": " + path + ": no such file");
  };
  check_file("system.trace", c.system.trace);
  check_file("system.availability_trace", c.system.availability_trace);
  if (c.system.availability == AvailabilityKind::trace && c.system.availability_trace.empty())
    throw UserError(source + ": system.availability_trace: empty; system.availability: trace needs a CSV file");
  if (c.federation.algorithm == Algorithm::local && c.federation.local_client >= c.federation.clients)
    throw UserError(source + ": federation.local_client: " + std::to_string(c.federation.local_client) +
                    " is not a client; accepted: -1 to " + std::to_string(c.federation.clients - 1));
  if (!c.model.checkpoint.empty() && !std::filesystem::exists(c.model.checkpoint))
    throw UserError(source + ": model.checkpoint: " + c.model.checkpoint + ": no such file");
  if (c.model.source == ModelSource::hf && !std::filesystem::is_directory(c.model.path))
    throw UserError(source + ": model.path: '" + c.model.path + "' is not a folder; model.source: hf needs a Hugging Face "
                    "model folder\nHINT: `fedsim model init --arch llama ... --out DIR` writes one");
  if (c.model.source != ModelSource::hf && !c.lora.export_dir.empty())
    throw UserError(source + ": lora.export_dir: PEFT adapters need model.source: hf (fedsim's GPT presets are not "
                    "transformers models)");
}

}  // namespace

FeatureSections::FeatureSections() {
  for (const auto& make : feature_section_factories()) items.push_back(make());
}

FeatureSections& FeatureSections::operator=(const FeatureSections& o) {
  if (this == &o) return *this;
  items.clear();
  for (const auto& s : o.items) items.push_back(s->clone());
  return *this;
}

FEDSIM_ENUM_NAMES(DataSource, "synthetic", "file")
FEDSIM_ENUM_NAMES(ServerMode, "sync", "async")
FEDSIM_ENUM_NAMES(TrainerKind, "model", "none")
FEDSIM_ENUM_NAMES(Execution, "batched", "sequential")
FEDSIM_ENUM_NAMES(Sampling, "uniform", "fedllm-bench")
FEDSIM_ENUM_NAMES(LocalDraw, "auto", "fedllm-bench", "per-client")
FEDSIM_ENUM_NAMES(NoiseLr, "initial", "round")
FEDSIM_ENUM_NAMES(ModelSource, "preset", "hf")
FEDSIM_ENUM_NAMES(BaseStorage, "fp32", "bf16")
FEDSIM_ENUM_NAMES(ProductsKind, "blas", "portable")
FEDSIM_ENUM_NAMES(ClientWeights, "auto", "data_size", "uniform")
FEDSIM_ENUM_NAMES(StepsMode, "fixed", "proportional")
FEDSIM_ENUM_NAMES(Mechanism, "none", "gaussian")
const std::vector<std::string>& names(Algorithm) {
  static const std::vector<std::string> n = algorithm_names();
  return n;
}

ExperimentConfig parse_config(const std::string& yaml_text, const std::string& source,
                              const std::vector<std::string>& overrides) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    throw UserError(source + ": YAML syntax error at line " + std::to_string(e.mark.line + 1) + ", column " +
                    std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  check_duplicate_keys(root, source);
  check_unknown_keys(root, source);
  std::map<std::string, std::string> from_set;
  for (const auto& o : overrides) from_set[apply_override(root, o)] = o;
  ExperimentConfig c;
  Loader loader(root, source, from_set);
  visit_config(c, loader);
  c.source_path = source;
  check_cross_fields(c, source);
  return c;
}

ExperimentConfig load_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw UserError(path + ": is a folder; expected a YAML config file");
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    throw UserError(path + ": is not a regular file; expected a YAML config file");  // a FIFO would block
  std::ifstream is(path, std::ios::binary);
  if (!is) throw UserError(path + ": cannot read config file (no such file or not readable)");
  std::stringstream ss;
  ss << is.rdbuf();
  const std::string text = ss.str();
  bool empty = text.find_first_not_of(" \t\r\n") == std::string::npos;
  if (!empty) {
    try {
      empty = YAML::Load(text).IsNull();  // comments only
    } catch (const YAML::Exception&) {
      // parse_config reports the syntax error with its position
    }
  }
  if (empty)
    throw UserError(path + ": is empty (no keys); expected a YAML config such as `federation:` with `rounds: 10` "
                    "under it (`fedsim config reference` lists every key)");
  return parse_config(text, path, overrides);
}

std::string to_yaml(const ExperimentConfig& c) {
  ExperimentConfig copy = c;
  Emitter e(false);
  visit_config(copy, e);
  return e.os.str();
}

std::string reference_yaml() {
  ExperimentConfig c;
  Emitter e(true);
  visit_config(c, e);
  return "# fedsim reference config: every key with its default, what it means and what it accepts.\n"
         "# Generated by `fedsim config reference`; a test checks that this file matches it.\n\n" +
         e.os.str();
}

std::vector<std::string> config_keys() { return list_keys().keys; }

std::string results_path(const ExperimentConfig& c) {
  return c.experiment.out.empty() ? "results/" + c.experiment.name + ".h5" : c.experiment.out;
}

std::string cache_dir(const ExperimentConfig& c) {
  if (!c.experiment.cache_dir.empty()) return c.experiment.cache_dir;
  if (const char* env = std::getenv("FEDSIM_CACHE"); env && *env) return env;
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.cache/fedsim";
  return ".fedsim-cache";
}

}  // namespace fedsim::sim
