// Checkpoints: base weights (flat, layout in models/README.md) + ModelConfig as root
// attributes + the tokenizer's description, written atomically (STYLE.md habit 7).
#include <sstream>

#include "datasets/common/h5.hpp"
#include "models/model_impl.hpp"

namespace fedsim::models {

namespace {
const char* kTokenizerDescription =
    "byte-level: ids 0-255 = bytes, 256 BOS, 257 EOS, 258 PAD, 259 INST, 260 RESP, 261-263 reserved";
}  // namespace

void Model::save(const std::string& path) const {
  const Net<float>& net = impl_->net;
  const ModelConfig& c = net.cfg;
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
  af.commit();
}

Model Model::load(const std::string& path, const LoraConfig& lora) {
  const h5::File f = h5::File::open_read(path);
  h5::check_format(f, kCheckpointKind, kCheckpointFormatVersion);
  const h5::Group root = f.root();
  ModelConfig c;
  c.preset = root.attr_string("preset");
  c.vocab_size = static_cast<int>(root.attr_int("vocab_size"));
  c.max_seq = static_cast<int>(root.attr_int("max_seq"));
  c.d_model = static_cast<int>(root.attr_int("d_model"));
  c.n_layers = static_cast<int>(root.attr_int("n_layers"));
  c.n_heads = static_cast<int>(root.attr_int("n_heads"));
  c.d_ff = static_cast<int>(root.attr_int("d_ff"));
  try {
    validate_model_config(c);
  } catch (const UserError& e) {
    throw UserError(path + ": checkpoint has an invalid config: " + e.what());
  }
  const std::string tok = root.attr_string("tokenizer");
  if (tok != kTokenizerDescription)
    throw UserError(path + ": checkpoint tokenizer '" + tok + "' differs from this build's '" + kTokenizerDescription +
                    "'\nHINT: the checkpoint was written by another fedsim version");
  auto impl = std::make_unique<Impl>(c, lora);
  std::vector<hsize_t> dims;
  std::vector<float> base = root.read<float>("base", &dims);
  if (dims.size() != 1 || static_cast<int64_t>(base.size()) != impl->net.bl.total) {
    std::ostringstream os;
    os << path << ":/base: " << base.size() << " values, config " << c.preset << " (C=" << c.d_model
       << ", L=" << c.n_layers << ", T=" << c.max_seq << ", d_ff=" << c.d_ff << ") needs " << impl->net.bl.total
       << "\nHINT: the file is damaged or was not written by fedsim";
    throw UserError(os.str());
  }
  impl->net.set(impl->net.base, base);
  return Model(std::move(impl));
}

}  // namespace fedsim::models
