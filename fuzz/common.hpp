// Shared helpers for the libFuzzer harnesses: input bytes as a file without touching the disk.
#pragma once
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace fuzz {

/// An anonymous in-memory file (memfd) holding `data`, reachable as /proc/self/fd/N.
class memfile {
 public:
  memfile(const std::uint8_t* data, std::size_t size) {
    fd_ = ::memfd_create("sinkcore-fuzz", MFD_CLOEXEC);
    if (fd_ < 0) std::abort();
    std::size_t done = 0;
    while (done < size) {
      const ssize_t w = ::write(fd_, data + done, size - done);
      if (w <= 0) std::abort();
      done += static_cast<std::size_t>(w);
    }
  }
  memfile(const memfile&) = delete;
  memfile& operator=(const memfile&) = delete;
  ~memfile() { ::close(fd_); }
  std::filesystem::path path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_ = -1;
};

/// A private scratch directory, created once per process.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sinkcore-fuzz-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    return std::filesystem::path(tmpl);
  }();
  return dir;
}

}  // namespace fuzz
