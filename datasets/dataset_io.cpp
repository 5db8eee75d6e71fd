// FederatedDataset <-> HDF5. The layout is documented in FORMAT.md; keep the two in step and
// bump kFormatVersion (dataset.hpp) on any change a reader of the old layout would misread.
#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_set>

#include "common/error.hpp"
#include "common/h5.hpp"
#include "datasets/dataset.hpp"

namespace fedsim::datasets {
namespace {

// One dataset per field over all samples of a split: a few HDF5 objects per client instead of
// one per sample keeps 747 clients well under a second to write.
void write_samples(const h5::Group& g, const std::vector<Sample>& samples, DataKind kind) {
  const size_t n = samples.size();
  std::vector<std::string> instruction(n), response(n), answer(n), rejected, turns;
  std::vector<int32_t> task(n), language(n), turn_count;
  std::vector<float> quality(n);
  for (size_t i = 0; i < n; ++i) {
    instruction[i] = samples[i].instruction;
    response[i] = samples[i].response;
    answer[i] = samples[i].answer;
    task[i] = samples[i].task;
    quality[i] = samples[i].quality;
    language[i] = samples[i].language;
    if (kind == DataKind::dpo) rejected.push_back(samples[i].rejected);
    if (kind == DataKind::multiturn) {
      turn_count.push_back(static_cast<int32_t>(samples[i].turns.size()));
      turns.insert(turns.end(), samples[i].turns.begin(), samples[i].turns.end());
    }
  }
  g.write_strings("instruction", instruction);
  g.write_strings("response", response);
  g.write_strings("answer", answer);
  g.write("task", task);
  g.write("quality", quality);
  g.write("language", language);
  if (kind == DataKind::dpo) g.write_strings("rejected", rejected);
  if (kind == DataKind::multiturn) {
    g.write("turn_count", turn_count);
    g.write_strings("turns", turns);
  }
}

// Version-2 extras of a sample group: language, and by kind rejected or turns.
void read_sample_extras(const h5::Group& g, std::vector<Sample>& out, DataKind kind, size_t n_languages) {
  const size_t n = out.size();
  auto bad_len = [&](const char* name, size_t len) {
    return UserError(g.where(name) + ": has " + std::to_string(len) + " values; expected " + std::to_string(n) +
                     " like " + g.where("instruction") + " (the file is inconsistent; regenerate it)");
  };
  const std::vector<int32_t> language = g.read<int32_t>("language");
  if (language.size() != n) throw bad_len("language", language.size());
  for (size_t i = 0; i < n; ++i) {
    if (language[i] < -1 || language[i] >= static_cast<int32_t>(n_languages))
      throw UserError(g.where("language") + ": value " + std::to_string(language[i]) + " at index " +
                      std::to_string(i) + " is not a language index; expected -1 (unknown) or [0, " +
                      std::to_string(n_languages) + ") for the names in /languages");
    out[i].language = language[i];
  }
  if (kind == DataKind::dpo) {
    std::vector<std::string> rejected = g.read_strings("rejected");
    if (rejected.size() != n) throw bad_len("rejected", rejected.size());
    for (size_t i = 0; i < n; ++i) out[i].rejected = std::move(rejected[i]);
  }
  if (kind == DataKind::multiturn) {
    const std::vector<int32_t> count = g.read<int32_t>("turn_count");
    std::vector<std::string> turns = g.read_strings("turns");
    if (count.size() != n) throw bad_len("turn_count", count.size());
    size_t at = 0;
    for (size_t i = 0; i < n; ++i) {
      if (count[i] < 0 || count[i] % 2 != 0 || at + static_cast<size_t>(count[i]) > turns.size())
        throw UserError(g.where("turn_count") + ": value " + std::to_string(count[i]) + " at index " +
                        std::to_string(i) + " is not an even count within the " + std::to_string(turns.size()) +
                        " strings of " + g.where("turns"));
      out[i].turns.assign(turns.begin() + static_cast<long>(at), turns.begin() + static_cast<long>(at + count[i]));
      at += static_cast<size_t>(count[i]);
    }
    if (at != turns.size())
      throw UserError(g.where("turns") + ": holds " + std::to_string(turns.size()) + " strings but " +
                      g.where("turn_count") + " sums to " + std::to_string(at));
  }
}

std::vector<Sample> read_samples(const h5::Group& g, size_t n_tasks) {
  const std::vector<std::string> instruction = g.read_strings("instruction");
  const std::vector<std::string> response = g.read_strings("response");
  const std::vector<std::string> answer = g.read_strings("answer");
  std::vector<hsize_t> task_dims, quality_dims;
  const std::vector<int32_t> task = g.read<int32_t>("task", &task_dims);
  const std::vector<float> quality = g.read<float>("quality", &quality_dims);
  const size_t n = instruction.size();
  auto check_len = [&](const char* name, size_t len, size_t rank) {
    if (rank != 1 || len != n)
      throw UserError(g.where(name) + ": has " + std::to_string(len) + " values in " + std::to_string(rank) +
                      " dimension(s); expected a 1-D dataset of " + std::to_string(n) + " values like " +
                      g.where("instruction") + " (the file is inconsistent; regenerate it)");
  };
  check_len("response", response.size(), 1);
  check_len("answer", answer.size(), 1);
  check_len("task", task.size(), task_dims.size());
  check_len("quality", quality.size(), quality_dims.size());

  std::vector<Sample> out(n);
  for (size_t i = 0; i < n; ++i) {
    if (task[i] < 0 || static_cast<size_t>(task[i]) >= n_tasks)
      throw UserError(g.where("task") + ": value " + std::to_string(task[i]) + " at index " + std::to_string(i) +
                      " is not a task index; expected [0, " + std::to_string(n_tasks) + ") for the " +
                      std::to_string(n_tasks) + " names in /tasks");
    // isfinite first: an ordered comparison with a NaN would trip the FE_INVALID trap.
    if (!(std::isfinite(quality[i]) && quality[i] >= 0.0f && quality[i] <= 1.0f))
      throw UserError(g.where("quality") + ": value at index " + std::to_string(i) + " is not a number in [0, 1]");
    out[i].instruction = instruction[i];
    out[i].response = response[i];
    out[i].answer = answer[i];
    out[i].task = task[i];
    out[i].quality = quality[i];
  }
  return out;
}

// HDF5 link names cannot hold '/' and "." means the group itself.
void check_client_names(const FederatedDataset& d) {
  std::unordered_set<std::string> seen;
  for (size_t i = 0; i < d.clients.size(); ++i) {
    const std::string& name = d.clients[i].name;
    if (name.empty() || name == "." || name.find('/') != std::string::npos || name.find('\0') != std::string::npos)
      throw UserError("client " + std::to_string(i) + ": name '" + name +
                      "' cannot be stored; expected a non-empty name without '/' and other than '.'");
    if (!seen.insert(name).second)
      throw UserError("client " + std::to_string(i) + ": name '" + name +
                      "' is used by an earlier client; names must be unique");
  }
}

// Client attributes as columns: /client_attr_keys (K) and /client_attrs/<key> (N strings).
void write_client_attributes(const h5::Group& root, const FederatedDataset& d) {
  std::vector<std::string> keys;
  for (const auto& c : d.clients)
    for (const auto& [k, v] : c.attributes)
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  for (const auto& k : keys)
    if (k.empty() || k == "." || k.find('/') != std::string::npos)
      throw UserError("client attribute '" + k + "' cannot be stored; expected a non-empty name without '/'");
  root.write_strings("client_attr_keys", keys);
  const h5::Group g = root.create_group("client_attrs");
  for (const auto& k : keys) {
    std::vector<std::string> col;
    for (const auto& c : d.clients) {
      const auto it = c.attributes.find(k);
      col.push_back(it == c.attributes.end() ? "" : it->second);
    }
    g.write_strings(k, col);
  }
}

void read_client_attributes(const h5::Group& root, FederatedDataset& d) {
  const std::vector<std::string> keys = root.read_strings("client_attr_keys");
  const h5::Group g = root.open_group("client_attrs");
  for (const auto& k : keys) {
    const std::vector<std::string> col = g.read_strings(k);
    if (col.size() != d.clients.size())
      throw UserError(g.where(k) + ": has " + std::to_string(col.size()) + " values; expected one per client (" +
                      std::to_string(d.clients.size()) + ")");
    for (size_t i = 0; i < col.size(); ++i)
      if (!col[i].empty()) d.clients[i].attributes[k] = col[i];
  }
}

// Versions 1 and 2 are read; anything else is refused naming the file.
int64_t check_dataset_format(const h5::File& f) {
  const h5::Group r = f.root();
  if (!r.has_attr("format") || r.attr_string("format") != kFormatKind)
    throw UserError(f.path() + ": not a " + std::string(kFormatKind) +
                    " file (root attribute 'format' is missing or differs)");
  const int64_t v = r.attr_int("format_version");
  if (v != 1 && v != kFormatVersion)
    throw UserError(f.path() + ": " + std::string(kFormatKind) + " format_version " + std::to_string(v) +
                    " is not supported; this fedsim reads versions 1 to " + std::to_string(kFormatVersion) +
                    " (regenerate the file with this fedsim)");
  return v;
}

size_t count_links(const h5::Group& g) {
  H5G_info_t info;
  if (H5Gget_info(g.id(), &info) < 0) throw UserError(g.where() + ": cannot list group");
  return static_cast<size_t>(info.nlinks);
}

}  // namespace

const char* kind_name(DataKind k) {
  switch (k) {
    case DataKind::sft: return "sft";
    case DataKind::multiturn: return "multiturn";
    case DataKind::dpo: return "dpo";
    case DataKind::corpus: return "corpus";
  }
  FEDSIM_ASSERT(false);
}

DataKind parse_kind(const std::string& s, const std::string& what) {
  for (DataKind k : {DataKind::sft, DataKind::multiturn, DataKind::dpo, DataKind::corpus})
    if (s == kind_name(k)) return k;
  throw UserError(what + ": '" + s + "' is not a data kind; accepted: sft, multiturn, dpo, corpus");
}

size_t FederatedDataset::n_samples() const {
  size_t n = 0;
  for (const auto& c : clients) n += c.samples.size();
  return n;
}

void write_dataset(const FederatedDataset& d, const std::string& path) {
  check_client_names(d);
  for (const auto* split : {&d.test, &d.public_split})
    for (const auto& s : *split) FEDSIM_ASSERT(s.task >= 0 && static_cast<size_t>(s.task) < d.task_names.size());
  for (const auto& c : d.clients)
    for (const auto& s : c.samples)
      FEDSIM_ASSERT_MSG(s.task >= 0 && static_cast<size_t>(s.task) < d.task_names.size(),
                        c.name << ": task index " << s.task << " outside [0, " << d.task_names.size() << ")");

  h5::AtomicFile out(path);
  const h5::Group root = out.root();
  for (const auto& c : d.clients)
    for (const auto& s : c.samples)
      FEDSIM_ASSERT_MSG(d.kind != DataKind::multiturn || (s.turns.size() % 2 == 0 && !s.turns.empty()),
                        c.name << ": a conversation needs an even, non-zero number of turns");
  for (const auto* split : {&d.test, &d.public_split})
    for (const auto& s : *split) FEDSIM_ASSERT(s.language >= -1 && s.language < static_cast<int32_t>(d.languages.size()));
  for (const auto& c : d.clients)
    for (const auto& s : c.samples)
      FEDSIM_ASSERT_MSG(s.language >= -1 && s.language < static_cast<int32_t>(d.languages.size()),
                        c.name << ": language index " << s.language << " outside [-1, " << d.languages.size() << ")");
  h5::set_format(root, kFormatKind, kFormatVersion);
  root.set_attr("name", d.name);
  root.set_attr("kind", kind_name(d.kind));
  root.write_strings("languages", d.languages);
  root.set_attr("generator_yaml", d.generator_yaml);
  root.set_attr("n_clients", static_cast<int64_t>(d.clients.size()));
  root.write_strings("tasks", d.task_names);

  std::vector<std::string> order;
  order.reserve(d.clients.size());
  for (const auto& c : d.clients) order.push_back(c.name);
  root.write_strings("client_names", order);
  const h5::Group clients = root.create_group("clients");
  for (const auto& c : d.clients) write_samples(clients.create_group(c.name), c.samples, d.kind);
  write_samples(root.create_group("test"), d.test, d.kind);
  write_samples(root.create_group("public"), d.public_split, d.kind);
  write_client_attributes(root, d);
  out.commit();
}

FederatedDataset read_dataset(const std::string& path) {
  const h5::File f = h5::File::open_read(path);
  const int64_t version = check_dataset_format(f);
  const h5::Group root = f.root();

  FederatedDataset d;
  d.name = root.attr_string("name");
  if (version >= 2) {
    d.kind = parse_kind(root.attr_string("kind"), root.where() + "@kind");
    d.languages = root.read_strings("languages");
  }
  d.generator_yaml = root.attr_string("generator_yaml");
  d.task_names = root.read_strings("tasks");
  const size_t n_tasks = d.task_names.size();

  const std::vector<std::string> order = root.read_strings("client_names");
  const int64_t n_clients = root.attr_int("n_clients");
  if (n_clients < 0 || static_cast<size_t>(n_clients) != order.size())
    throw UserError(root.where() + "@n_clients: " + std::to_string(n_clients) + " differs from the " +
                    std::to_string(order.size()) + " names in " + root.where("client_names") +
                    " (the file is inconsistent; regenerate it)");
  const h5::Group clients = root.open_group("clients");
  if (count_links(clients) != order.size())
    throw UserError(clients.where() + ": holds " + std::to_string(count_links(clients)) + " entries but " +
                    root.where("client_names") + " lists " + std::to_string(order.size()) + " clients");
  d.clients.resize(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    d.clients[i].name = order[i];
    d.clients[i].samples = read_samples(clients.open_group(order[i]), n_tasks);
    if (version >= 2) read_sample_extras(clients.open_group(order[i]), d.clients[i].samples, d.kind, d.languages.size());
  }
  d.test = read_samples(root.open_group("test"), n_tasks);
  d.public_split = read_samples(root.open_group("public"), n_tasks);
  if (version >= 2) {
    read_sample_extras(root.open_group("test"), d.test, d.kind, d.languages.size());
    read_sample_extras(root.open_group("public"), d.public_split, d.kind, d.languages.size());
    read_client_attributes(root, d);
  }
  return d;
}

}  // namespace fedsim::datasets
