#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

struct sqlite3;

namespace ravnest::detail {

/// The matchmaker's SQLite file (<stateDir>/matchmaker.sqlite3): providers, jobs and links as JSON documents
/// keyed by name or id, artifacts and loss points as rows. WAL journal, so a kill -9 loses at most the last
/// transaction. Not thread-safe: MatchmakerState calls it under its lock.
class StateStore {
 public:
  /// Opens or creates the file. Throws ConfigError naming it when it cannot.
  explicit StateStore(const std::string& path);
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  void putProvider(const std::string& name, const std::string& json);
  void putJob(uint64_t id, const std::string& json);
  void putLink(const std::string& from, const std::string& to, const std::string& json);
  void putArtifact(uint64_t job, const std::string& provider, const std::string& path, uint64_t size,
                   const std::string& sha256);
  void addLoss(uint64_t job, double time, double loss);

  std::vector<std::string> providers() const;  // JSON documents
  std::vector<std::string> jobs() const;
  std::vector<std::string> links() const;
  struct Artifact {
    std::string path;
    uint64_t size = 0;
    std::string sha256;
  };
  std::vector<Artifact> artifacts(uint64_t job, const std::string& provider) const;
  /// The job's loss points, oldest first, at most `limit` (the newest ones).
  std::vector<std::pair<double, double>> losses(uint64_t job, int limit) const;
  const std::string& path() const { return path_; }

 private:
  void exec(const std::string& sql);
  std::vector<std::string> column(const std::string& sql) const;

  std::string path_;
  sqlite3* db_ = nullptr;
};

}  // namespace ravnest::detail
