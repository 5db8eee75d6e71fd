// Real text from Debian packages: `apt-get download` into a temporary folder, `dpkg-deb -x`,
// then parse FreeDict's dictd files or fortune files. Nothing is installed.
#include "datasets/debian.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.hpp"
#include "common/rng.hpp"

namespace fs = std::filesystem;

namespace fedsim::datasets {
namespace {

// Package names are passed to a shell: allow Debian's package-name alphabet only.
void check_package(const std::string& p) {
  const bool ok = !p.empty() && std::all_of(p.begin(), p.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.';
  });
  if (!ok) throw UserError("--packages: '" + p + "' is not a Debian package name");
}

struct WorkDir {  // removes the folder it made
  fs::path path;
  bool owned = false;
  explicit WorkDir(const std::string& given) {
    if (!given.empty()) {
      path = given;
      fs::create_directories(path);
      return;
    }
    std::string tmpl = (fs::temp_directory_path() / "fedsim-debian-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw UserError("cannot create a temporary folder under " + fs::temp_directory_path().string());
    path = tmpl;
    owned = true;
  }
  ~WorkDir() {
    std::error_code ec;
    if (owned) fs::remove_all(path, ec);
  }
};

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// Downloads and unpacks every package; returns each package's unpacked root.
std::vector<fs::path> fetch(const std::vector<std::string>& packages, const fs::path& dir) {
  std::string cmd = "cd '" + dir.string() + "' && apt-get download -q";
  for (const auto& p : packages) {
    check_package(p);
    cmd += " " + p;
  }
  cmd += " > apt.log 2>&1";
  if (std::system(cmd.c_str()) != 0)
    throw UserError("apt-get download " + packages.front() + (packages.size() > 1 ? " ..." : "") +
                    " failed (archive unreachable or unknown package): " + read_all(dir / "apt.log").substr(0, 300) +
                    "HINT: check the network and `apt-get update`, or `apt-cache search` for the names");
  std::vector<fs::path> roots;
  for (const auto& p : packages) {
    fs::path deb;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().filename().string().rfind(p + "_", 0) == 0 && e.path().extension() == ".deb") deb = e.path();
    if (deb.empty()) throw UserError("apt-get download " + p + ": no .deb file appeared in " + dir.string());
    const fs::path root = dir / ("x-" + p);
    const std::string x = "dpkg-deb -x '" + deb.string() + "' '" + root.string() + "' > /dev/null 2>&1";
    if (std::system(x.c_str()) != 0) throw UserError(deb.string() + ": dpkg-deb -x failed (not a Debian package?)");
    roots.push_back(root);
  }
  return roots;
}

bool valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    i += n;
  }
  return true;
}
std::string latin1_to_utf8(const std::string& s) {
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) out += ch;
    else out += static_cast<char>(0xc0 | (c >> 6)), out += static_cast<char>(0x80 | (c & 0x3f));
  }
  return out;
}

uint64_t b64(const std::string& s) {  // dictd's index offsets: base64 digits, most significant first
  static const std::string a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  uint64_t v = 0;
  for (char c : s) v = v * 64 + a.find(c);
  return v;
}

// First sense of a dictd entry: skip the headword line, drop "1. " and <grammar> tags.
std::string first_sense(const std::string& entry) {
  std::istringstream is(entry);
  std::string line;
  std::getline(is, line);
  while (std::getline(is, line)) {
    std::string s;
    bool tag = false;
    for (char c : line) {
      if (c == '<') tag = true;
      if (!tag) s += c;
      if (c == '>') tag = false;
    }
    const size_t a = s.find_first_not_of(" \t0123456789.");
    if (a == std::string::npos) continue;
    s = s.substr(a);
    s = s.substr(0, s.find_last_not_of(" \t") + 1);
    if (!s.empty()) return s;
  }
  return "";
}

template <class T>
void shuffle(std::vector<T>& v, Rng& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
}

int32_t language_index(FederatedDataset& d, const std::string& code) {
  auto it = std::find(d.languages.begin(), d.languages.end(), code);
  if (it == d.languages.end()) it = d.languages.insert(d.languages.end(), code);
  return static_cast<int32_t>(it - d.languages.begin());
}

}  // namespace

std::vector<std::string> default_freedict_packages() {
  return {"dict-freedict-ara-eng", "dict-freedict-fra-eng", "dict-freedict-spa-eng", "dict-freedict-por-eng",
          "dict-freedict-deu-eng", "dict-freedict-ita-eng", "dict-freedict-jpn-eng", "dict-freedict-pol-eng"};
}
std::vector<std::string> default_fortunes_packages() {
  return {"fortunes-min", "fortunes-es", "fortunes-de", "fortunes-it", "fortunes-br", "fortunes-ru", "fortunes-pl"};
}

bool debian_archive_reachable() {
  try {
    WorkDir dir("");
    fetch({"fortunes-min"}, dir.path);
    return true;
  } catch (const UserError&) {
    return false;
  }
}

FederatedDataset debian_freedict(const DebianOptions& o) {
  const std::vector<std::string> packages = o.packages.empty() ? default_freedict_packages() : o.packages;
  WorkDir dir(o.work_dir);
  const std::vector<fs::path> roots = fetch(packages, dir.path);
  FederatedDataset d;
  d.name = "freedict";
  d.kind = DataKind::sft;
  d.task_names = {"translate"};
  d.generator_yaml = "generator: debian-freedict\ngenerator_version: 1\npackages: [";
  for (size_t i = 0; i < packages.size(); ++i) d.generator_yaml += (i ? ", " : "") + packages[i];
  d.generator_yaml += "]\nmax_per_client: " + std::to_string(o.max_per_client) + "\nn_test: " + std::to_string(o.n_test) +
                      "\nseed: " + std::to_string(o.seed) + "\n";
  for (size_t c = 0; c < packages.size(); ++c) {
    const std::string pair = packages[c].substr(packages[c].find("freedict-") == std::string::npos ? 0 : packages[c].find("freedict-") + 9);
    const fs::path base = roots[c] / "usr/share/dictd" / ("freedict-" + pair);
    if (!fs::exists(base.string() + ".index"))
      throw UserError(packages[c] + ": no usr/share/dictd/freedict-" + pair + ".index inside; expected a dict-freedict-<src>-<dst> package");
    const std::string unz = (dir.path / (pair + ".dict")).string();
    if (std::system(("gzip -dc '" + base.string() + ".dict.dz' > '" + unz + "' 2>/dev/null").c_str()) != 0)
      throw UserError(base.string() + ".dict.dz: cannot decompress");
    const std::string dict = read_all(unz), index = read_all(base.string() + ".index");
    const std::string src = pair.substr(0, pair.find('-')), dst = pair.substr(pair.find('-') + 1);
    std::vector<Sample> all;
    std::istringstream lines(index);
    std::string line, last;
    while (std::getline(lines, line)) {
      const size_t t1 = line.find('\t'), t2 = line.find('\t', t1 + 1);
      if (t1 == std::string::npos || t2 == std::string::npos) continue;
      const std::string head = line.substr(0, t1);
      if (head.rfind("00database", 0) == 0 || head.rfind("00-database", 0) == 0 || head == last) continue;
      last = head;  // one sample per headword: its first entry
      const uint64_t off = b64(line.substr(t1 + 1, t2 - t1 - 1)), len = b64(line.substr(t2 + 1));
      if (off + len > dict.size()) continue;
      const std::string sense = first_sense(dict.substr(off, len));
      if (sense.empty() || !valid_utf8(sense) || !valid_utf8(head)) continue;
      Sample s;
      s.instruction = "translate " + src + ">" + dst + ": " + head;
      s.response = s.answer = sense;
      s.task = 0;
      s.language = language_index(d, src);
      all.push_back(std::move(s));
    }
    Rng rng(o.seed, c, 0, Purpose::data_split);
    shuffle(all, rng);
    const size_t n_test = std::min(all.size() / 2, static_cast<size_t>(std::max(0, o.n_test)));
    d.test.insert(d.test.end(), all.begin(), all.begin() + static_cast<long>(n_test));
    all.erase(all.begin(), all.begin() + static_cast<long>(n_test));
    if (all.size() > static_cast<size_t>(o.max_per_client)) all.resize(static_cast<size_t>(o.max_per_client));
    ClientData client;
    client.name = pair;
    client.samples = std::move(all);
    client.attributes = {{"package", packages[c]}, {"language", src}, {"target_language", dst}};
    d.clients.push_back(std::move(client));
  }
  return d;
}

FederatedDataset debian_fortunes(const DebianOptions& o) {
  const std::vector<std::string> packages = o.packages.empty() ? default_fortunes_packages() : o.packages;
  WorkDir dir(o.work_dir);
  const std::vector<fs::path> roots = fetch(packages, dir.path);
  FederatedDataset d;
  d.name = "fortunes";
  d.kind = DataKind::corpus;
  d.task_names = {"text"};
  d.generator_yaml = "generator: debian-fortunes\ngenerator_version: 1\npackages: [";
  for (size_t i = 0; i < packages.size(); ++i) d.generator_yaml += (i ? ", " : "") + packages[i];
  d.generator_yaml += "]\nmax_per_client: " + std::to_string(o.max_per_client) + "\nseed: " + std::to_string(o.seed) + "\n";
  for (size_t p = 0; p < packages.size(); ++p) {
    // fortunes-es -> es, fortunes-br -> pt (Brazilian); English for the unsuffixed collections.
    std::string lang = packages[p].substr(packages[p].find('-') == std::string::npos ? packages[p].size() : packages[p].find('-') + 1);
    if (lang == "br") lang = "pt";
    if (lang.size() != 2) lang = lang.rfind("es-", 0) == 0 || lang.rfind("it-", 0) == 0 ? lang.substr(0, 2) : "en";
    const fs::path games = roots[p] / "usr/share/games/fortunes";
    if (!fs::exists(games)) throw UserError(packages[p] + ": no usr/share/games/fortunes inside; expected a fortunes-* package");
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(games))
      if (e.is_regular_file() && !e.is_symlink() && e.path().extension() != ".dat" && e.path().extension() != ".u8")
        files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::string text = read_all(f);
      if (!valid_utf8(text)) text = latin1_to_utf8(text);
      std::vector<Sample> pieces;
      std::istringstream is(text);
      std::string line, piece;
      auto flush = [&] {
        const size_t a = piece.find_first_not_of(" \n\t"), b = piece.find_last_not_of(" \n\t");
        if (a != std::string::npos) {
          Sample s;
          s.response = piece.substr(a, b - a + 1);
          s.task = 0;
          s.language = language_index(d, lang);
          pieces.push_back(std::move(s));
        }
        piece.clear();
      };
      while (std::getline(is, line)) {
        if (line == "%") flush();
        else piece += line + "\n";
      }
      flush();
      if (pieces.size() < 5) continue;  // too small to be a client's corpus
      if (pieces.size() > static_cast<size_t>(o.max_per_client)) pieces.resize(static_cast<size_t>(o.max_per_client));
      ClientData client;
      std::string rel = fs::relative(f, games).string();
      std::replace(rel.begin(), rel.end(), '/', '_');
      client.name = packages[p] + "_" + rel;
      client.samples = std::move(pieces);
      client.attributes = {{"package", packages[p]}, {"language", lang}, {"file", fs::relative(f, games).string()}};
      d.clients.push_back(std::move(client));
    }
  }
  if (d.clients.empty()) throw UserError("fortunes: no collection with at least 5 fortunes in " + packages.front());
  return d;
}

}  // namespace fedsim::datasets
