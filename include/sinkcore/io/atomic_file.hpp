#pragma once
/// @file atomic_file.hpp
/// Write a file so that readers see either the old content or the complete new one, never a prefix:
/// write a temporary file in the same directory, fsync it, rename it over the target, fsync the directory.
/// POSIX only (open/write/fsync/rename).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <ostream>
#include <streambuf>
#include <string>
#include <vector>

#include "sinkcore/error.hpp"

namespace sinkcore::io {

namespace detail {

inline std::string errno_text(int err) { return std::strerror(err); }

/// An output streambuf over a POSIX file descriptor that remembers the first write error (errno).
class fd_streambuf : public std::streambuf {
 public:
  explicit fd_streambuf(int fd) : fd_(fd), buffer_(std::size_t{1} << 20) {
    setp(buffer_.data(), buffer_.data() + buffer_.size());
  }
  fd_streambuf(const fd_streambuf&) = delete;
  fd_streambuf& operator=(const fd_streambuf&) = delete;

  /// errno of the first failed write, 0 if none.
  int error() const { return error_; }

 protected:
  int_type overflow(int_type ch) override {
    if (!flush_buffer()) return traits_type::eof();
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(ch);
      pbump(1);
    }
    return traits_type::not_eof(ch);
  }

  int sync() override { return flush_buffer() ? 0 : -1; }

  std::streamsize xsputn(const char* s, std::streamsize n) override {
    // Large blocks (tensor data) bypass the buffer.
    if (n >= static_cast<std::streamsize>(buffer_.size())) {
      if (!flush_buffer() || !write_all(s, static_cast<std::size_t>(n))) return 0;
      return n;
    }
    return std::streambuf::xsputn(s, n);
  }

 private:
  bool flush_buffer() {
    const auto n = static_cast<std::size_t>(pptr() - pbase());
    if (n == 0) return error_ == 0;
    const bool ok = write_all(pbase(), n);
    setp(buffer_.data(), buffer_.data() + buffer_.size());
    return ok;
  }

  bool write_all(const char* p, std::size_t n) {
    if (error_ != 0) return false;
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        error_ = errno;
        return false;
      }
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    return true;
  }

  int fd_;
  int error_ = 0;
  std::vector<char> buffer_;
};

/// A name for the temporary file, unique within this process and unlikely to clash across processes.
inline std::filesystem::path temporary_sibling(const std::filesystem::path& target) {
  static std::atomic<unsigned long> counter{0};
  const auto tick = static_cast<unsigned long>(std::chrono::steady_clock::now().time_since_epoch().count());
  std::string name = "." + target.filename().string() + ".tmp." + std::to_string(::getpid()) + "." +
                     std::to_string(counter.fetch_add(1)) + "." + std::to_string(tick % 1000003);
  return target.parent_path() / name;
}

}  // namespace detail

/// Writes `path` atomically: `write(os)` fills a temporary file in the same directory, which is then
/// flushed, fsync'ed and renamed over `path` (and the directory fsync'ed).
/// @post on success `path` holds exactly what `write` produced; on any failure (an exception from
///       `write`, a write error, a full disk) `path` is untouched and no temporary file is left.
/// @throws sinkcore::error naming `path` for I/O failures; exceptions from `write` propagate unchanged.
inline void write_file_atomically(const std::filesystem::path& path,
                                  const std::function<void(std::ostream&)>& write) {
  if (path.empty() || !path.has_filename()) throw error("'" + path.string() + "': not a file name");
  const std::filesystem::path dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();

  std::filesystem::path tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    tmp = detail::temporary_sibling(path);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) {
      const int err = errno;
      throw error(path.string() + ": cannot create a temporary file in '" + dir.string() +
                  "': " + detail::errno_text(err));
    }
  }
  if (fd < 0) throw error(path.string() + ": cannot create a unique temporary file in '" + dir.string() + "'");

  auto fail = [&](const std::string& what, int err) {
    if (fd >= 0) ::close(fd);
    fd = -1;
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw error(path.string() + ": " + what + (err != 0 ? ": " + detail::errno_text(err) : std::string()));
  };

  {
    detail::fd_streambuf buf(fd);
    std::ostream os(&buf);
    try {
      write(os);
      os.flush();
    } catch (...) {
      ::close(fd);
      std::error_code ignored;
      std::filesystem::remove(tmp, ignored);
      throw;
    }
    if (buf.error() != 0 || !os) fail("write failed", buf.error());
  }
  if (::fsync(fd) != 0) fail("fsync failed", errno);
  if (::close(fd) != 0) {
    fd = -1;
    fail("close failed", errno);
  }
  fd = -1;
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename the temporary file into place", errno);

  // Make the rename durable; failure here does not undo the write, so it is not reported.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace sinkcore::io
