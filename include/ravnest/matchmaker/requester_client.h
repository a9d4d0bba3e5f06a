#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "ravnest/matchmaker/matchmaker_client_options.h"

namespace ravnest {

/// A requester's connection to a matchmaker: submits a job, follows it until its providers are measured,
/// uploads each node's artifacts and commits the plan. While a job is open a thread of its own keeps it alive
/// (the matchmaker drops the job of a requester that went silent, and its providers go back to the pool).
class RequesterClient {
 public:
  explicit RequesterClient(const MatchmakerClientOptions& options);
  ~RequesterClient();
  RequesterClient(const RequesterClient&) = delete;
  RequesterClient& operator=(const RequesterClient&) = delete;

  /// Opens a job that takes `providers` providers (0: all measured before `waitS` passes). Returns its id.
  uint64_t submitJob(uint32_t providers, double waitS);
  /// The job as JSON: state, message, its providers with their figures, the links measured between them.
  std::string job(uint64_t job);
  /// Uploads `file` as `relativePath` (under node_data/) for `provider`, in chunks, with its SHA-256; retries a
  /// transfer the matchmaker refused as corrupt up to 3 times. Throws NetworkError when it cannot.
  void uploadArtifact(uint64_t job, const std::string& provider, const std::string& relativePath,
                      const std::string& file);
  /// Hands the plan (JSON: per provider its node name, cluster, stage, role) to the matchmaker: the providers
  /// fetch their artifacts and start.
  void commit(uint64_t job, const std::string& planJson);
  /// Drops the job (its providers go back to the pool).
  void cancel(uint64_t job);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ravnest
