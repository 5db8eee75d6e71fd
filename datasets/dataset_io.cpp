// FederatedDataset <-> HDF5. The layout is documented in FORMAT.md; keep the two in step and
// bump kFormatVersion (dataset.hpp) on any change a reader of the old layout would misread.
//
// Version 3 stores every split as one table (common/table.hpp): all clients' samples back to
// back in /samples with a /clients table of names and sample counts, so a file holds a fixed
// number of HDF5 objects however many clients it has (versions 1-2 had one group of datasets
// per client: 200,000 clients took over a minute and 6 KB each). Versions 1 and 2 are still
// read, their variable-length strings after common/h5's checks.
#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_set>

#include "common/error.hpp"
#include "common/h5.hpp"
#include "common/stop.hpp"
#include "common/table.hpp"
#include "datasets/dataset.hpp"

namespace fedsim::datasets {
namespace {

// The columns of a sample table; `v1`: the first format's (no language, no kind extras).
h5::RowTable<Sample> make_samples_table(DataKind kind, bool v1) {
  h5::RowTable<Sample> t;
  t.col("instruction", &Sample::instruction, "bytes", "prompt text (dpo: the prompt)")
      .col("response", &Sample::response, "bytes", "training target (dpo: the chosen reply; corpus: the text)")
      .col("answer", &Sample::answer, "bytes", "ground truth for exact-match scoring; \"\" = none")
      .col("task", &Sample::task, "", "index into /tasks")
      .col("quality", &Sample::quality, "fraction", "1 = response equals the ground truth");
  if (v1) return t;
  t.col("language", &Sample::language, "", "index into /languages; -1 = unknown");
  if (kind == DataKind::dpo) t.col("rejected", &Sample::rejected, "bytes", "the dispreferred reply");
  if (kind == DataKind::multiturn)
    t.list("turn_count", "turns", &Sample::turns, "bytes", "the conversation: human, gpt, human, gpt, ...");
  return t;
}

const h5::RowTable<Sample>& samples_table(DataKind kind, bool v1 = false) {
  static const h5::RowTable<Sample> v1_table = make_samples_table(DataKind::sft, true);
  static const h5::RowTable<Sample> tables[] = {make_samples_table(DataKind::sft, false),
                                                make_samples_table(DataKind::multiturn, false),
                                                make_samples_table(DataKind::dpo, false),
                                                make_samples_table(DataKind::corpus, false)};
  return v1 ? v1_table : tables[static_cast<int>(kind)];
}

// One row per client; its samples are the next n_samples rows of /samples.
struct ClientRow {
  std::string name;
  int64_t n_samples = 0;
};
const h5::RowTable<ClientRow>& clients_table() {
  static const h5::RowTable<ClientRow> t = h5::RowTable<ClientRow>()
      .col("name", &ClientRow::name, "", "client name; index i = client i")
      .col("n_samples", &ClientRow::n_samples, "samples", "client i's rows of /samples, after those of clients 0..i-1");
  return t;
}

// Values the tables cannot check: indexes into the name lists, quality, conversations.
void check_samples(const h5::Group& g, const std::vector<Sample>& s, size_t offset, DataKind kind, size_t n_tasks,
                   size_t n_languages) {
  for (size_t j = 0; j < s.size(); ++j) {
    const size_t i = offset + j;
    if (s[j].task < 0 || static_cast<size_t>(s[j].task) >= n_tasks)
      throw UserError(g.where("task") + ": value " + std::to_string(s[j].task) + " at index " + std::to_string(i) +
                      " is not a task index; expected [0, " + std::to_string(n_tasks) + ") for the " +
                      std::to_string(n_tasks) + " names in /tasks");
    // isfinite first: an ordered comparison with a NaN would trip the FE_INVALID trap.
    if (!(std::isfinite(s[j].quality) && s[j].quality >= 0.0f && s[j].quality <= 1.0f))
      throw UserError(g.where("quality") + ": value at index " + std::to_string(i) + " is not a number in [0, 1]");
    if (s[j].language < -1 || s[j].language >= static_cast<int32_t>(n_languages))
      throw UserError(g.where("language") + ": value " + std::to_string(s[j].language) + " at index " +
                      std::to_string(i) + " is not a language index; expected -1 (unknown) or [0, " +
                      std::to_string(n_languages) + ") for the names in /languages");
    if (kind == DataKind::multiturn && (s[j].turns.empty() || s[j].turns.size() % 2 != 0))
      throw UserError(g.where("turn_count") + ": value " + std::to_string(s[j].turns.size()) + " at index " +
                      std::to_string(i) + " is not an even, non-zero count of turns");
  }
}

std::vector<Sample> read_split(const h5::Group& g, DataKind kind, bool v1, size_t n_tasks, size_t n_languages) {
  std::vector<Sample> s = samples_table(kind, v1).read(g);
  check_samples(g, s, 0, kind, n_tasks, n_languages);
  return s;
}

// HDF5 link names (the version-2 layout) cannot hold '/' and "." means the group itself; the
// rule stays so files convert both ways.
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
    col.reserve(d.clients.size());
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
    const std::vector<std::string> col = h5::read_string_column(g, k, d.clients.size());
    for (size_t i = 0; i < col.size(); ++i)
      if (!col[i].empty()) d.clients[i].attributes[k] = col[i];
  }
}

// Versions 1 to 3 are read; anything else is refused naming the file.
int64_t check_dataset_format(const h5::File& f) {
  const h5::Group r = f.root();
  if (!r.has_attr("format") || r.attr_string("format") != kFormatKind)
    throw UserError(f.path() + ": not a " + std::string(kFormatKind) +
                    " file (root attribute 'format' is missing or differs)");
  const int64_t v = r.attr_int("format_version");
  if (v < 1 || v > kFormatVersion)
    throw UserError(f.path() + ": " + std::string(kFormatKind) + " format_version " + std::to_string(v) +
                    " is not supported; this fedsim reads versions 1 to " + std::to_string(kFormatVersion) +
                    " (regenerate the file with this fedsim)");
  if (v == kFormatVersion && !f.checked())
    throw UserError(f.path() + ": has no checksums (root attribute '" + h5::kIntegrityAttr +
                    "' is missing); the file is damaged or was not written by this fedsim");
  return v;
}

size_t count_links(const h5::Group& g) {
  H5G_info_t info;
  if (H5Gget_info(g.id(), &info) < 0) throw UserError(g.where() + ": cannot list group");
  return static_cast<size_t>(info.nlinks);
}

// Versions 1 and 2: /client_names and one sample group per client under /clients.
void read_legacy_clients(const h5::Group& root, FederatedDataset& d, int64_t version) {
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
    check_stop();
    d.clients[i].name = order[i];
    d.clients[i].samples =
        read_split(clients.open_group(order[i]), d.kind, version == 1, d.task_names.size(), d.languages.size());
  }
}

void read_clients(const h5::Group& root, FederatedDataset& d) {
  const h5::Group cg = root.open_group("clients");
  const std::vector<ClientRow> rows = clients_table().read(cg);
  const int64_t n_clients = root.attr_int("n_clients");
  if (n_clients < 0 || static_cast<size_t>(n_clients) != rows.size())
    throw UserError(root.where() + "@n_clients: " + std::to_string(n_clients) + " differs from the " +
                    std::to_string(rows.size()) + " rows of " + cg.where() + " (the file is inconsistent; regenerate it)");
  const h5::Group sg = root.open_group("samples");
  const size_t n_all = samples_table(d.kind).length(sg);
  d.clients.resize(rows.size());
  std::vector<size_t> first(rows.size() + 1, 0);
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].n_samples < 0 || static_cast<uint64_t>(rows[i].n_samples) > n_all - first[i])
      throw UserError(cg.where("n_samples") + ": value " + std::to_string(rows[i].n_samples) + " at index " +
                      std::to_string(i) + " overruns the " + std::to_string(n_all) + " rows of " + sg.where());
    d.clients[i].name = rows[i].name;
    d.clients[i].samples.resize(static_cast<size_t>(rows[i].n_samples));
    first[i + 1] = first[i] + static_cast<size_t>(rows[i].n_samples);
  }
  if (first.back() != n_all)
    throw UserError(sg.where() + ": holds " + std::to_string(n_all) + " rows but " + cg.where("n_samples") +
                    " sums to " + std::to_string(first.back()));
  // Straight into each client's samples (no second copy of the data set).
  size_t cur = 0;
  samples_table(d.kind).read(sg, n_all, [&](size_t i) -> Sample& {
    if (i < first[cur]) cur = 0;
    while (i >= first[cur + 1]) ++cur;
    return d.clients[cur].samples[i - first[cur]];
  });
  for (size_t i = 0; i < rows.size(); ++i)
    check_samples(sg, d.clients[i].samples, first[i], d.kind, d.task_names.size(), d.languages.size());
  check_client_names(d);
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
  auto check = [&](const std::string& where, const Sample& s) {
    FEDSIM_ASSERT_MSG(s.task >= 0 && static_cast<size_t>(s.task) < d.task_names.size(),
                      where << ": task index " << s.task << " outside [0, " << d.task_names.size() << ")");
    FEDSIM_ASSERT_MSG(s.language >= -1 && s.language < static_cast<int32_t>(d.languages.size()),
                      where << ": language index " << s.language << " outside [-1, " << d.languages.size() << ")");
    FEDSIM_ASSERT_MSG(d.kind != DataKind::multiturn || (s.turns.size() % 2 == 0 && !s.turns.empty()),
                      where << ": a conversation needs an even, non-zero number of turns");
  };
  std::vector<ClientRow> rows;
  // The samples of every client as one table, without copying them: row i is sample i - first[c]
  // of the client c whose rows start at first[c].
  std::vector<size_t> first;
  rows.reserve(d.clients.size());
  first.reserve(d.clients.size() + 1);
  size_t n_all = 0;
  for (const auto& c : d.clients) {
    for (const auto& s : c.samples) check(c.name, s);
    rows.push_back({c.name, static_cast<int64_t>(c.samples.size())});
    first.push_back(n_all);
    n_all += c.samples.size();
  }
  first.push_back(n_all);
  size_t cur = 0;  // rows are asked for in order: a moving client cursor, not a search
  auto sample_at = [&](size_t i) -> const Sample& {
    if (i < first[cur]) cur = 0;
    while (i >= first[cur + 1]) ++cur;
    return d.clients[cur].samples[i - first[cur]];
  };
  for (const auto* split : {&d.test, &d.public_split})
    for (const auto& s : *split) check(split == &d.test ? "test" : "public", s);
  check_stop();

  h5::AtomicFile out(path);
  const h5::Group root = out.root();
  h5::set_format(root, kFormatKind, kFormatVersion);
  root.set_attr("name", d.name);
  root.set_attr("kind", kind_name(d.kind));
  root.set_attr("generator_yaml", d.generator_yaml);
  root.set_attr("n_clients", static_cast<int64_t>(d.clients.size()));
  root.write_strings("languages", d.languages);
  root.write_strings("tasks", d.task_names);
  clients_table().write(root.create_group("clients"), rows);
  samples_table(d.kind).write(root.create_group("samples"), n_all, sample_at);
  samples_table(d.kind).write(root.create_group("test"), d.test);
  samples_table(d.kind).write(root.create_group("public"), d.public_split);
  write_client_attributes(root, d);
  check_stop();
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
  const size_t n_tasks = d.task_names.size(), n_languages = d.languages.size();
  check_stop();
  if (version >= 3)
    read_clients(root, d);
  else
    read_legacy_clients(root, d, version);
  check_stop();
  d.test = read_split(root.open_group("test"), d.kind, version == 1, n_tasks, n_languages);
  d.public_split = read_split(root.open_group("public"), d.kind, version == 1, n_tasks, n_languages);
  if (version >= 2) read_client_attributes(root, d);
  return d;
}

}  // namespace fedsim::datasets
