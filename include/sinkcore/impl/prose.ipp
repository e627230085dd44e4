#pragma once
// The non-template part of train/prose.hpp that reads and writes the corpus manifest (JSON).
// Included by that header, or once by sinkcore/src.hpp under separate compilation (config.hpp).
#include <nlohmann/json.hpp>

#include "sinkcore/train/prose.hpp"

namespace sinkcore::train::prose {

/// The manifest's identity of a request: what a cached build must match.
SINKCORE_DECL nlohmann::json request_json(const build_options& o) {
  nlohmann::json names = nlohmann::json::array();
  for (const auto& s : sources())
    if (!s.nonfree || o.nonfree) names.push_back(s.name);
  return {{"version", cleaning_version}, {"sources", names}, {"held_out_every", o.held_out_every}, {"eod", int(byte_eod)}};
}

SINKCORE_DECL build_result build(const build_options& o) {
  namespace d = detail;
  const fs::path dir = corpus_dir(o.cache), downloads = o.cache / "downloads";
  build_result r;
  r.train = dir / "train.txt";
  r.held_out = dir / "held_out.txt";
  r.manifest = dir / "manifest.json";
  const nlohmann::json request = request_json(o);
  if (!o.rebuild && fs::exists(r.manifest) && fs::exists(r.train) && fs::exists(r.held_out)) {
    try {
      const auto m = nlohmann::json::parse(d::read_all(r.manifest));
      if (m.at("request") == request) {
        r.cached = true;
        r.train_bytes = fs::file_size(r.train);
        r.held_out_bytes = fs::file_size(r.held_out);
        r.documents = m.at("documents");
        for (const auto& s : m.at("sources"))
          r.sources.push_back({s.at("name"), s.at("packages"), s.at("files"), s.at("documents"), s.at("paragraphs"),
                               s.at("kept"), s.at("duplicates"), s.at("bytes")});
        return r;
      }
    } catch (const std::exception&) {
      // unreadable manifest: build again
    }
  }
  fs::create_directories(dir);
  std::unordered_set<std::uint64_t> seen_exact, seen_near;
  std::string train, held;
  std::size_t doc_index = 0;
  auto add_document = [&](const std::vector<std::string>& paras, source_stats& st) {
    std::string doc;
    for (const auto& p : paras) {
      ++st.paragraphs;
      if (!d::keep_paragraph(p)) continue;
      const std::uint64_t exact = std::hash<std::string>{}(p), nk = d::near_key(p);
      if (!seen_exact.insert(exact).second || !seen_near.insert(nk).second) {
        ++st.duplicates;
        continue;
      }
      ++st.kept;
      if (!doc.empty()) doc += "\n\n";
      doc += p;
    }
    if (doc.empty()) return;
    doc += '\n';
    doc += char(byte_eod);
    std::string& into = (o.held_out_every && doc_index % o.held_out_every == o.held_out_every - 1) ? held : train;
    into += doc;
    ++doc_index;
    ++st.documents;
    st.bytes += doc.size();
  };
  for (const auto& s : sources()) {
    if (s.nonfree && !o.nonfree) continue;
    source_stats st;
    st.name = std::string(s.name);
    std::vector<fs::path> files;
    for (const auto& pkg : s.packages) {
      st.packages += (st.packages.empty() ? "" : " ") + std::string(pkg);
      const fs::path archive = d::download(s, std::string(pkg), downloads, o.log);
      const fs::path x = o.cache / "unpacked" / archive.stem();
      if (!fs::exists(x / ".complete")) {
        d::unpack(archive, x);
        std::ofstream(x / ".complete") << archive.filename().string() << '\n';
      }
      for (const auto& e : fs::recursive_directory_iterator(x)) {
        if (!e.is_regular_file()) continue;
        const std::string p = e.path().string();
        if (p.find(s.pattern) == std::string::npos || !p.ends_with(s.suffix)) continue;
        if (s.kind == format::html && !d::english_path(p)) continue;
        if (s.kind == format::fortune && (p.ends_with(".dat") || p.ends_with(".u8"))) continue;
        if (s.kind == format::wordnet && p.find("/data.") == std::string::npos) continue;
        if (s.name == "linux-doc" && !(p.ends_with(".rst.gz") || p.ends_with(".txt.gz"))) continue;
        if (s.kind == format::brown && !std::isdigit(static_cast<unsigned char>(p.back()))) continue;
        files.push_back(e.path());
      }
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) throw error("prose corpus: source '" + std::string(s.name) + "' (" + st.packages + ") has no files matching '" +
                                   std::string(s.pattern) + "*" + std::string(s.suffix) + "': the package layout changed?");
    if (o.log) *o.log << "cleaning " << s.name << " (" << files.size() << " files)" << std::endl;
    for (const auto& f : files) {
      ++st.files;
      const auto paras = d::paragraphs(s.kind, d::read_text(f));
      if (s.kind == format::dictd || s.kind == format::wordnet) {  // one huge file: ~16 KB documents
        std::vector<std::string> chunk;
        std::size_t bytes = 0;
        for (const auto& p : paras) {
          chunk.push_back(p);
          bytes += p.size();
          if (bytes >= 16384) {
            add_document(chunk, st);
            chunk.clear();
            bytes = 0;
          }
        }
        if (!chunk.empty()) add_document(chunk, st);
      } else {
        add_document(paras, st);
      }
    }
    if (o.log) *o.log << "  " << s.name << ": " << st.kept << " paragraphs kept of " << st.paragraphs << ", " << st.duplicates
                      << " duplicates, " << st.documents << " documents, " << st.bytes / 1000000.0 << " MB" << std::endl;
    r.sources.push_back(st);
  }
  r.documents = doc_index;
  io::write_file_atomically(r.train, [&](std::ostream& os) { os.write(train.data(), std::streamsize(train.size())); });
  io::write_file_atomically(r.held_out, [&](std::ostream& os) { os.write(held.data(), std::streamsize(held.size())); });
  r.train_bytes = train.size();
  r.held_out_bytes = held.size();
  nlohmann::json src = nlohmann::json::array();
  for (const auto& s : r.sources)
    src.push_back({{"name", s.name}, {"packages", s.packages}, {"files", s.files}, {"documents", s.documents},
                   {"paragraphs", s.paragraphs}, {"kept", s.kept}, {"duplicates", s.duplicates}, {"bytes", s.bytes}});
  const nlohmann::json manifest = {{"request", request}, {"documents", r.documents}, {"train_bytes", r.train_bytes},
                                   {"held_out_bytes", r.held_out_bytes}, {"sources", src}};
  io::write_file_atomically(r.manifest, [&](std::ostream& os) { os << manifest.dump(1) << '\n'; });
  return r;
}

}  // namespace sinkcore::train::prose
