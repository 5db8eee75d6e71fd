// Checkpoints: base weights (flat, layout in models/README.md) + ModelConfig as root
// attributes + the tokenizer's description, the full-parameter AdamW state and named adapters,
// written atomically (STYLE.md habit 7).
#include <sstream>

#include "common/h5.hpp"
#include "models/model_impl.hpp"

namespace fedsim::models {

namespace {
const char* kTokenizerDescription =
    "byte-level: ids 0-255 = bytes, 256 BOS, 257 EOS, 258 PAD, 259 INST, 260 RESP, 261 USER, 262 ASSISTANT, "
    "263 reserved";
// Same ids; 261 and 262 were reserved and unused before the turn markers were named.
const char* kTokenizerDescriptionV0 =
    "byte-level: ids 0-255 = bytes, 256 BOS, 257 EOS, 258 PAD, 259 INST, 260 RESP, 261-263 reserved";

}  // namespace

void Model::save(const std::string& path, const NamedAdapters& adapters) const {
  const Impl& im = *impl_;
  const Net<float>& net = im.net;
  const ModelConfig& c = net.cfg;
  if (c.llama())
    throw UserError(path + ": a " + std::string(arch_name(c.arch)) +
                    " model's base is its Hugging Face folder, not a fedsim checkpoint\nHINT: keep the folder; write "
                    "adapters with `fedsim export adapter`");
  h5::AtomicFile af(path);
  const h5::Group root = af.root();
  h5::set_format(root, kCheckpointKind, kCheckpointFormatVersion);
  root.set_attr("preset", c.preset);
  root.set_attr("vocab_size", int64_t(c.vocab_size));
  root.set_attr("max_seq", int64_t(c.max_seq));
  root.set_attr("d_model", int64_t(c.d_model));
  root.set_attr("n_layers", int64_t(c.n_layers));
  root.set_attr("n_heads", int64_t(c.n_heads));
  root.set_attr("d_ff", int64_t(c.d_ff));
  root.set_attr("tokenizer", kTokenizerDescription);
  root.write<float>("base", net.get(net.base));
  if (im.base_steps > 0) {  // full-parameter AdamW moments, so pretraining can resume
    const h5::Group g = root.create_group("base_optimizer");
    g.set_attr("steps", im.base_steps);
    g.write<float>("m", net.get(im.base_m));
    g.write<float>("v", net.get(im.base_v));
  }
  if (!adapters.empty()) {
    const h5::Group g = root.create_group("adapters");
    g.set_attr("rank", int64_t(net.al.rank));
    g.set_attr("alpha", static_cast<double>(im.lora.alpha));
    g.set_attr("dropout", static_cast<double>(im.lora.dropout));
    g.set_attr("targets", join_targets(net.al));
    std::vector<std::string> names;
    for (const auto& [name, values] : adapters) {
      FEDSIM_ASSERT_MSG(static_cast<int64_t>(values.size()) == net.al.total,
                        "adapter '" << name << "' has " << values.size() << " values, model expects " << net.al.total);
      names.push_back(name);
    }
    g.write_strings("names", names);
    for (size_t i = 0; i < adapters.size(); ++i) g.write<float>("adapter_" + std::to_string(i), adapters[i].second);
  }
  af.commit();
}

Model Model::load(const std::string& path, const LoraConfig& lora) {
  const h5::File f = h5::File::open_read(path);
  h5::check_format(f, kCheckpointKind, kCheckpointFormatVersion);
  const h5::Group root = f.root();
  // Shapes within the config schema's ranges (sim/config.cpp), before any product of them.
  auto dim = [&](const char* name, int64_t hi) {
    const int64_t v = root.attr_int(name);
    if (v < 1 || v > hi)
      throw UserError(root.where() + "@" + name + ": " + std::to_string(v) + " is out of range; accepted: 1 to " +
                      std::to_string(hi) + "\nHINT: the file is damaged or was not written by fedsim");
    return static_cast<int>(v);
  };
  ModelConfig c;
  c.preset = root.attr_string("preset");
  c.vocab_size = dim("vocab_size", 65536);
  c.max_seq = dim("max_seq", 65536);
  c.d_model = dim("d_model", 65536);
  c.n_layers = dim("n_layers", 1024);
  c.n_heads = dim("n_heads", 1024);
  c.d_ff = dim("d_ff", 262144);
  try {
    validate_model_config(c);
  } catch (const UserError& e) {
    throw UserError(path + ": checkpoint has an invalid config: " + e.what());
  }
  const std::string tok = root.attr_string("tokenizer");
  if (tok != kTokenizerDescription && tok != kTokenizerDescriptionV0)
    throw UserError(path + ": checkpoint tokenizer '" + tok + "' differs from this build's '" + kTokenizerDescription +
                    "'\nHINT: the checkpoint was written by another fedsim version");
  // The weights must be in the file before the model is allocated for them.
  const std::vector<hsize_t> base_dims = root.shape("base");
  const int64_t base_total = make_base_layout(c).total;
  if (base_dims.size() != 1 || static_cast<int64_t>(base_dims[0]) != base_total)
    throw UserError(root.where("base") + ": shape does not hold the " + std::to_string(base_total) + " weights of its config (C=" +
                    std::to_string(c.d_model) + ", L=" + std::to_string(c.n_layers) + ", T=" + std::to_string(c.max_seq) +
                    ", d_ff=" + std::to_string(c.d_ff) + ")\nHINT: the file is damaged or was not written by fedsim");
  auto impl = std::make_unique<Impl>(c, lora);
  Net<float>& net = impl->net;
  auto read_flat = [&](const h5::Group& g, const std::string& name) {
    std::vector<hsize_t> dims;
    std::vector<float> v = g.read<float>(name, &dims);
    if (dims.size() != 1 || static_cast<int64_t>(v.size()) != net.bl.total) {
      std::ostringstream os;
      os << g.where(name) << ": " << v.size() << " values, config " << c.preset << " (C=" << c.d_model
         << ", L=" << c.n_layers << ", T=" << c.max_seq << ", d_ff=" << c.d_ff << ") needs " << net.bl.total
         << "\nHINT: the file is damaged or was not written by fedsim";
      throw UserError(os.str());
    }
    return v;
  };
  net.set(net.base, read_flat(root, "base"));
  if (root.has("base_optimizer")) {
    const h5::Group g = root.open_group("base_optimizer");
    impl->base_steps = g.attr_int("steps");
    if (impl->base_steps < 0)
      throw UserError(g.where() + "@steps: " + std::to_string(impl->base_steps) + " is negative; expected a step count");
    impl->base_m = Vec<float>(Kokkos::view_alloc(net.exec, "fedsim::models::base_adam_m"), net.bl.total);
    impl->base_v = Vec<float>(Kokkos::view_alloc(net.exec, "fedsim::models::base_adam_v"), net.bl.total);
    net.set(impl->base_m, read_flat(g, "m"));
    net.set(impl->base_v, read_flat(g, "v"));
  }
  return Model(std::move(impl));
}

Model::NamedAdapters Model::load_adapters(const std::string& path) const {
  const Net<float>& net = impl_->net;
  const h5::File f = h5::File::open_read(path);
  h5::check_format(f, kCheckpointKind, kCheckpointFormatVersion);
  NamedAdapters out;
  if (!f.root().has("adapters")) return out;
  const h5::Group g = f.root().open_group("adapters");
  const std::string targets = g.attr_string("targets");
  const int64_t rank = g.attr_int("rank");
  if (rank != net.al.rank || targets != join_targets(net.al)) {
    std::ostringstream os;
    os << g.where() << ": adapters of rank " << rank << " on [" << targets << "], this model's LoRA is rank "
       << net.al.rank << " on [" << join_targets(net.al) << "]\nHINT: set lora.rank and lora.targets as when saved";
    throw UserError(os.str());
  }
  const std::vector<std::string> names = g.read_strings("names");
  for (size_t i = 0; i < names.size(); ++i) {
    std::vector<float> v = g.read<float>("adapter_" + std::to_string(i));
    if (static_cast<int64_t>(v.size()) != net.al.total)
      throw UserError(g.where("adapter_" + std::to_string(i)) + ": " + std::to_string(v.size()) + " values, expected " +
                      std::to_string(net.al.total) + "\nHINT: the file is damaged or was not written by fedsim");
    out.emplace_back(names[i], std::move(v));
  }
  return out;
}

}  // namespace fedsim::models
