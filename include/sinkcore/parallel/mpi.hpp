#pragma once
/// @file mpi.hpp
/// The optional MPI layer: a communicator that is MPI_COMM_WORLD when sinkcore is built with MPI
/// (SINKCORE_HAVE_MPI defined, MPI linked) and MPI has been initialised, and a single process otherwise.
/// Every collective is a no-op on a single process, so code written against `communicator` runs
/// unchanged without MPI (docs/scaling.md).
///
///   sinkcore::parallel::mpi_session mpi(argc, argv);     // MPI_Init_thread when started by mpirun/srun
///   auto comm = sinkcore::parallel::communicator::world();
///   comm.allreduce_sum(grads.data(), grads.size());      // in place, in 16 MiB buckets
///
/// The library stays header-only: without SINKCORE_HAVE_MPI this header uses no MPI symbol.
#include <algorithm>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#ifdef SINKCORE_HAVE_MPI
// The C API only: no deprecated C++ bindings (Open MPI's libmpi_cxx, MPICH's mpicxx), so linking
// MPI::MPI_C is enough.
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>
#endif

#include "../error.hpp"

namespace sinkcore::parallel {

/// An error raised identically on every rank of a communicator (after agreement), so every rank can end
/// normally with the same non-zero status instead of aborting the job. Rank 0 reports it.
struct collective_error : error {
  using error::error;
};

/// Default size of one all-reduce bucket: 16 MiB.
inline constexpr std::size_t default_bucket_bytes = std::size_t{16} << 20;

/// True when this process was started by an MPI launcher (mpirun/mpiexec of Open MPI or MPICH, srun with
/// PMI/PMIx) or SINKCORE_MPI=1 is set; SINKCORE_MPI=0 disables MPI.
inline bool launched_by_mpi() {
  if (const char* f = std::getenv("SINKCORE_MPI")) return std::string(f) != "0";
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"})
    if (std::getenv(v)) return true;
  return false;
}

/// Whether this build can use MPI at all.
inline constexpr bool mpi_available() {
#ifdef SINKCORE_HAVE_MPI
  return true;
#else
  return false;
#endif
}

class communicator {
 public:
  /// This process alone.
  static communicator self() { return communicator(); }

  /// MPI_COMM_WORLD when MPI is built in and initialised (and not finalised); else self().
  static communicator world() {
#ifdef SINKCORE_HAVE_MPI
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin) {
      communicator c;
      c.comm_ = MPI_COMM_WORLD;
      MPI_Comm_rank(MPI_COMM_WORLD, &c.rank_);
      MPI_Comm_size(MPI_COMM_WORLD, &c.size_);
      c.local_size_ = c.size_;
      MPI_Comm shm;
      if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &shm) == MPI_SUCCESS) {
        MPI_Comm_size(shm, &c.local_size_);
        MPI_Comm_free(&shm);
      }
      return c;
    }
#endif
    return communicator();
  }

  int rank() const noexcept { return rank_; }
  int size() const noexcept { return size_; }
  /// Ranks on this machine (MPI_COMM_TYPE_SHARED); 1 for a single process.
  int local_size() const noexcept { return local_size_; }
  bool distributed() const noexcept { return size_ > 1; }
  bool root() const noexcept { return rank_ == 0; }

  /// data[i] = sum over ranks of data[i], in place, in buckets of `bucket_bytes` (one MPI_Allreduce with
  /// MPI_IN_PLACE per bucket). Every rank receives the same result.
  void allreduce_sum(float* data, std::size_t n, std::size_t bucket_bytes = default_bucket_bytes) const {
#ifdef SINKCORE_HAVE_MPI
    if (!distributed()) return;
    const std::size_t per = std::clamp<std::size_t>(bucket_bytes / sizeof(float), 1, std::size_t(INT_MAX));
    for (std::size_t i = 0; i < n; i += per)
      check(MPI_Allreduce(MPI_IN_PLACE, data + i, int(std::min(per, n - i)), MPI_FLOAT, MPI_SUM, comm_), "MPI_Allreduce");
#else
    (void)data, (void)n, (void)bucket_bytes;
#endif
  }
  void allreduce_sum(double* data, std::size_t n) const {
#ifdef SINKCORE_HAVE_MPI
    if (!distributed()) return;
    for (std::size_t i = 0; i < n; i += std::size_t(INT_MAX))
      check(MPI_Allreduce(MPI_IN_PLACE, data + i, int(std::min<std::size_t>(INT_MAX, n - i)), MPI_DOUBLE, MPI_SUM, comm_),
            "MPI_Allreduce");
#else
    (void)data, (void)n;
#endif
  }
  /// Logical or of `flag` over the ranks.
  bool any(bool flag) const {
#ifdef SINKCORE_HAVE_MPI
    if (!distributed()) return flag;
    int v = flag ? 1 : 0;
    check(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_LOR, comm_), "MPI_Allreduce");
    return v != 0;
#else
    return flag;
#endif
  }
  /// Copies root's n floats to every rank.
  void broadcast(float* data, std::size_t n, int root = 0) const {
#ifdef SINKCORE_HAVE_MPI
    if (!distributed()) return;
    for (std::size_t i = 0; i < n; i += std::size_t(INT_MAX))
      check(MPI_Bcast(data + i, int(std::min<std::size_t>(INT_MAX, n - i)), MPI_FLOAT, root, comm_), "MPI_Bcast");
#else
    (void)data, (void)n, (void)root;
#endif
  }
  /// Copies root's string to every rank.
  void broadcast(std::string& s, int root = 0) const {
#ifdef SINKCORE_HAVE_MPI
    if (!distributed()) return;
    unsigned long long n = s.size();
    check(MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, root, comm_), "MPI_Bcast");
    s.resize(std::size_t(n));
    for (std::size_t i = 0; i < s.size(); i += std::size_t(INT_MAX))
      check(MPI_Bcast(s.data() + i, int(std::min<std::size_t>(INT_MAX, s.size() - i)), MPI_CHAR, root, comm_), "MPI_Bcast");
#else
    (void)s, (void)root;
#endif
  }
  void barrier() const {
#ifdef SINKCORE_HAVE_MPI
    if (distributed()) check(MPI_Barrier(comm_), "MPI_Barrier");
#endif
  }
  /// A barrier that sleeps instead of spinning (MPI_Ibarrier polled every few milliseconds): for ranks
  /// that may wait long (the study's last runs), so that waiting costs no core.
  void wait_for_all() const {
#ifdef SINKCORE_HAVE_MPI
    if (!distributed()) return;
    MPI_Request req;
    check(MPI_Ibarrier(comm_, &req), "MPI_Ibarrier");
    for (int done = 0;;) {
      check(MPI_Test(&req, &done, MPI_STATUS_IGNORE), "MPI_Test");
      if (done) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
#endif
  }

  /// Point to point, for the study's work queue: a string to one rank / from any rank (blocking).
  void send(const std::string& s, int dest, int tag) const {
#ifdef SINKCORE_HAVE_MPI
    if (s.size() > std::size_t(INT_MAX)) throw error("MPI message of " + std::to_string(s.size()) + " bytes is too large");
    check(MPI_Send(s.data(), int(s.size()), MPI_CHAR, dest, tag, comm_), "MPI_Send");
#else
    (void)s, (void)dest, (void)tag;
    throw error("send: sinkcore was built without MPI");
#endif
  }
  /// Receives a string with `tag` from `source` (-1: any source) into s; returns the sender's rank.
  int receive(std::string& s, int source, int tag) const {
#ifdef SINKCORE_HAVE_MPI
    MPI_Status st;
    check(MPI_Probe(source < 0 ? MPI_ANY_SOURCE : source, tag, comm_, &st), "MPI_Probe");
    int count = 0;
    MPI_Get_count(&st, MPI_CHAR, &count);
    s.resize(std::size_t(count));
    check(MPI_Recv(s.data(), count, MPI_CHAR, st.MPI_SOURCE, tag, comm_, MPI_STATUS_IGNORE), "MPI_Recv");
    return st.MPI_SOURCE;
#else
    (void)s, (void)source, (void)tag;
    throw error("receive: sinkcore was built without MPI");
#endif
  }
  /// Whether a message with `tag` from any rank is waiting (does not block).
  bool message_waiting(int tag) const {
#ifdef SINKCORE_HAVE_MPI
    int flag = 0;
    check(MPI_Iprobe(MPI_ANY_SOURCE, tag, comm_, &flag, MPI_STATUS_IGNORE), "MPI_Iprobe");
    return flag != 0;
#else
    (void)tag;
    return false;
#endif
  }

#ifdef SINKCORE_HAVE_MPI
  MPI_Comm handle() const noexcept { return comm_; }
#endif

 private:
  communicator() = default;
#ifdef SINKCORE_HAVE_MPI
  static void check(int rc, const char* what) {
    if (rc != MPI_SUCCESS) {
      char msg[MPI_MAX_ERROR_STRING];
      int len = 0;
      MPI_Error_string(rc, msg, &len);
      throw error(std::string(what) + " failed: " + std::string(msg, std::size_t(len)));
    }
  }
  MPI_Comm comm_ = MPI_COMM_SELF;
#endif
  int rank_ = 0, size_ = 1, local_size_ = 1;
};

/// Initialises MPI (thread level MPI_THREAD_SERIALIZED: the study's work queue calls MPI from one thread
/// at a time, not always the main one) when this build has MPI and the process was started by an MPI
/// launcher; finalises it on destruction. Without MPI, or started directly, it does nothing and
/// communicator::world() is this process alone.
class mpi_session {
 public:
  mpi_session(int& argc, char**& argv, bool only_when_launched = true) {
#ifdef SINKCORE_HAVE_MPI
    int init = 0;
    MPI_Initialized(&init);
    if (init || (only_when_launched && !launched_by_mpi())) return;
    int provided = 0;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
      throw error("MPI_Init_thread failed");
    owner_ = true;
    if (provided < MPI_THREAD_SERIALIZED) {
      std::fprintf(stderr, "sinkcore: error: the MPI library provides thread level %d, MPI_THREAD_SERIALIZED (%d) is needed\n",
                   provided, int(MPI_THREAD_SERIALIZED));
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
#else
    (void)argc, (void)argv, (void)only_when_launched;
#endif
  }
  mpi_session(const mpi_session&) = delete;
  mpi_session& operator=(const mpi_session&) = delete;
  ~mpi_session() {
#ifdef SINKCORE_HAVE_MPI
    int fin = 0;
    MPI_Finalized(&fin);
    if (owner_ && !fin) MPI_Finalize();
#endif
  }
  /// Ends every rank of the job with `code` (MPI_Abort) when running on several ranks; otherwise returns
  /// `code` for main to return. For errors that happened on some ranks only: the others would wait forever.
  static int fail(int code) {
#ifdef SINKCORE_HAVE_MPI
    if (communicator::world().distributed()) {
      std::fflush(stdout);
      std::fflush(stderr);
      MPI_Abort(MPI_COMM_WORLD, code);
    }
#endif
    return code;
  }

 private:
  bool owner_ = false;
};

/// FNV-1a of a byte range: a cheap fingerprint to check that every rank holds the same data.
inline std::uint64_t fingerprint(const void* data, std::size_t bytes, std::uint64_t h = 1469598103934665603ULL) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

/// Throws collective_error on every rank unless every rank passes the same `value` (e.g. a fingerprint).
inline void require_same(const communicator& c, std::uint64_t value, const std::string& what) {
  if (!c.distributed()) return;
  std::string mine = std::to_string(value), root = mine;
  c.broadcast(root);
  if (c.any(mine != root)) throw collective_error(what + " differs between the ranks (every rank must see the same input)");
}

}  // namespace sinkcore::parallel
