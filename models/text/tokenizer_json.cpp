// Reads a Hugging Face tokenizer.json (format of huggingface/tokenizers' serialization) into an
// HfConfig. Anything malformed or outside what fedsim implements is a UserError naming the file,
// the key (JSON path) and what is accepted.
#include "models/text/hf_tokenizer.hpp"
#include "models/text/json_node.hpp"
#include "models/text/unicode.hpp"

namespace fedsim::models::text {
namespace {

// A Sequence's parts, in order.
template <class F>
void for_each_item(const Node& list, F read) {
  for (size_t i = 0; i < list.array().size(); ++i) read(list.item(i));
}

uint32_t single_char(const Node& n) {
  const std::string s = n.str();
  size_t i = 0;
  const uint32_t c = s.empty() ? 0 : utf8_next(s, i);
  if (s.empty() || i != s.size()) n.fail("expected one character, found '" + s + "'");
  return c;
}

std::string string_pattern(const Node& n) {
  if (n.has("Regex")) n.fail("regular-expression patterns are not supported here; accepted: {\"String\": ...}");
  return n.at("String").str();
}

PrependScheme prepend_scheme(const Node& n) {
  if (!n.has("prepend_scheme")) return n.flag("add_prefix_space", true) ? PrependScheme::always : PrependScheme::never;
  const std::string s = n.at("prepend_scheme").str();
  if (s == "always") return PrependScheme::always;
  if (s == "first") return PrependScheme::first;
  if (s == "never") return PrependScheme::never;
  n.at("prepend_scheme").unsupported(s, "always, first, never");
}

void read_normalizer(const Node& n, HfConfig& c) {
  const std::string t = n.type();
  if (t == "Sequence") {
    for_each_item(n.at("normalizers"), [&c](const Node& item) { read_normalizer(item, c); });
  } else if (t == "NFC") {
    c.normalizers.push_back({NormalizerStep::nfc, "", ""});
  } else if (t == "Prepend") {
    c.normalizers.push_back({NormalizerStep::prepend, "", n.at("prepend").str()});
  } else if (t == "Replace") {
    const std::string pattern = string_pattern(n.at("pattern"));
    if (pattern.empty()) n.at("pattern").fail("empty pattern");
    c.normalizers.push_back({NormalizerStep::replace, pattern, n.at("content").str()});
  } else {
    n.at("type").unsupported(t, "NFC, Prepend, Replace, Sequence");
  }
}

void read_pre_tokenizer(const Node& n, HfConfig& c) {
  const std::string t = n.type();
  PreTokenizerStep s{};
  if (t == "Sequence") {
    for_each_item(n.at("pretokenizers"), [&c](const Node& item) { read_pre_tokenizer(item, c); });
    return;
  } else if (t == "Split") {
    s.kind = PreTokenizerStep::split;
    const Node pattern = n.at("pattern");
    if (!pattern.has("Regex")) pattern.fail("only Regex patterns are supported");
    const std::string re = pattern.at("Regex").str();
    if (!parse_split_regex(re, s.regex))
      pattern.at("Regex").fail("pattern not supported: " + re + "; accepted: the GPT-2, Llama-3 and Qwen2 patterns (" +
                               split_regex_pattern(SplitRegex::llama3) + ")");
    if (n.at("behavior").str() != "Isolated") n.at("behavior").unsupported(n.at("behavior").str(), "Isolated");
    if (n.flag("invert", false)) n.at("invert").unsupported("true", "false");
  } else if (t == "ByteLevel") {
    s.kind = PreTokenizerStep::byte_level;
    s.add_prefix_space = n.flag("add_prefix_space", true);
    s.use_regex = n.flag("use_regex", true);
  } else if (t == "Metaspace") {
    s.kind = PreTokenizerStep::metaspace;
    s.replacement = n.has("replacement") ? single_char(n.at("replacement")) : kMetaspace;
    s.scheme = prepend_scheme(n);
    s.split_pieces = n.flag("split", true);
  } else {
    n.at("type").unsupported(t, "ByteLevel, Split, Metaspace, Sequence");
  }
  c.pre_tokenizers.push_back(s);
}

void read_decoder(const Node& n, HfConfig& c) {
  const std::string t = n.type();
  DecoderStep d{};
  if (t == "Sequence") {
    for_each_item(n.at("decoders"), [&c](const Node& item) { read_decoder(item, c); });
    return;
  } else if (t == "ByteLevel") {
    d.kind = DecoderStep::byte_level;
  } else if (t == "Replace") {
    d.kind = DecoderStep::replace;
    d.pattern = string_pattern(n.at("pattern"));
    d.content = n.at("content").str();
  } else if (t == "ByteFallback") {
    d.kind = DecoderStep::byte_fallback;
  } else if (t == "Fuse") {
    d.kind = DecoderStep::fuse;
  } else if (t == "Strip") {
    d.kind = DecoderStep::strip;
    d.content = n.at("content").str();
    single_char(n.at("content"));
    d.start = static_cast<int>(n.at("start").integer());
    d.stop = static_cast<int>(n.at("stop").integer());
  } else if (t == "Metaspace") {
    d.kind = DecoderStep::metaspace;
    d.replacement = n.has("replacement") ? single_char(n.at("replacement")) : kMetaspace;
    d.scheme = prepend_scheme(n);
  } else {
    n.at("type").unsupported(t, "ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, Sequence");
  }
  c.decoders.push_back(d);
}

// Ids of a special token named in a post-processor.
int32_t named_id(const Node& n, const std::string& name, const HfConfig& c) {
  for (const auto& a : c.added)
    if (a.content == name) return a.id;
  for (size_t id = 0; id < c.tokens.size(); ++id)
    if (c.tokens[id] == name) return static_cast<int32_t>(id);
  n.fail("token '" + name + "' is neither an added token nor in model.vocab");
}

void read_post_processor(const Node& n, HfConfig& c) {
  const std::string t = n.type();
  if (t == "Sequence") {
    for_each_item(n.at("processors"), [&c](const Node& item) { read_post_processor(item, c); });
  } else if (t == "ByteLevel") {
    // Offsets only.
  } else if (t == "TemplateProcessing") {
    const Node single = n.at("single");
    bool seen_a = false;
    for (size_t i = 0; i < single.array().size(); ++i) {
      const Node piece = single.item(i);
      if (piece.has("Sequence")) {
        seen_a = true;
        continue;
      }
      const std::string name = piece.at("SpecialToken").at("id").str();
      const Node ids = n.at("special_tokens").at(name.c_str()).at("ids");
      for (size_t k = 0; k < ids.array().size(); ++k)
        (seen_a ? c.suffix : c.prefix).push_back(static_cast<int32_t>(ids.item(k).integer()));
    }
  } else if (t == "RobertaProcessing" || t == "BertProcessing") {
    const Node cls = n.at("cls"), sep = n.at("sep");
    c.prefix.push_back(named_id(cls, cls.item(0).str(), c));
    c.suffix.push_back(named_id(sep, sep.item(0).str(), c));
  } else {
    n.at("type").unsupported(t, "TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, Sequence");
  }
}

void read_added_tokens(const Node& list, HfConfig& c) {
  for (size_t i = 0; i < list.array().size(); ++i) {
    const Node a = list.item(i);
    AddedToken t;
    const int64_t id = a.at("id").integer();
    t.id = id < 0 || id > (1 << 30) ? -1 : static_cast<int32_t>(id);
    t.content = a.at("content").str();
    if (t.id < 0) a.at("id").fail("id " + std::to_string(id) + " out of range");
    if (t.content.empty()) a.at("content").fail("empty token");
    t.special = a.flag("special", false);
    t.lstrip = a.flag("lstrip", false);
    t.rstrip = a.flag("rstrip", false);
    t.single_word = a.flag("single_word", false);
    t.normalized = a.flag("normalized", !t.special);
    c.added.push_back(t);
  }
}

}  // namespace

HfConfig parse_tokenizer_json(const std::string& path) {
  const nlohmann::json root = parse_json_file(path);
  HfConfig c;
  c.path = path;
  const Node top{root, "", path};
  if (!root.is_object()) top.fail("expected a JSON object");
  read_bpe_model(top, c);  // tokens first: the post-processor names them
  if (top.has("added_tokens")) read_added_tokens(top.at("added_tokens"), c);
  for (const auto& a : c.added) {
    if (static_cast<size_t>(a.id) >= c.tokens.size()) c.tokens.resize(static_cast<size_t>(a.id) + 1);
    c.tokens[static_cast<size_t>(a.id)] = a.content;
  }
  if (top.has("normalizer")) read_normalizer(top.at("normalizer"), c);
  if (top.has("pre_tokenizer")) read_pre_tokenizer(top.at("pre_tokenizer"), c);
  if (top.has("post_processor")) read_post_processor(top.at("post_processor"), c);
  c.has_decoder = top.has("decoder");
  if (c.has_decoder) read_decoder(top.at("decoder"), c);
  finish_config(c);
  return c;
}

}  // namespace fedsim::models::text
