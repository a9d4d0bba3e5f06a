#pragma once

#include <grpcpp/support/status_code_enum.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "matchmaker.pb.h"
#include "matchmaker/state_store.h"
#include "ravnest/common/error.h"
#include "ravnest/matchmaker/matchmaker_server.h"

namespace ravnest::detail {

/// A refusal with the gRPC code the service answers it with.
class ServiceError : public Error {
 public:
  ServiceError(grpc::StatusCode code, const std::string& message) : Error(message), code_(code) {}
  grpc::StatusCode code() const { return code_; }

 private:
  grpc::StatusCode code_;
};

/// Everything the matchmaker knows, and the rules that move jobs along:
///   waiting   -> claims measured, idle providers (in the order they joined) until it has `providers`, or until
///                `wait_s` passed with at least one
///   probing   -> its providers measure the links between them (probe_plan.h), each in one probe at a time
///   measured  -> the requester forms the clusters and uploads each provider's artifacts ("uploading")
///   running   -> committed: the providers fetch their artifacts and train
///   finished  -> every provider of it reported the end of training
///   dropped   -> its requester went silent or cancelled, or no provider came; its providers are idle again
/// Every change is written through to SQLite; a new MatchmakerState on the same folder continues where the
/// last one stopped. Thread-safe: one lock, held briefly by each call.
class MatchmakerState {
 public:
  MatchmakerState(const MatchmakerOptions& options, double now);

  matchmaking::JoinReply join(const matchmaking::JoinRequest& request, double now);
  matchmaking::HeartbeatReply heartbeat(const matchmaking::HeartbeatRequest& request, double now);
  /// A new job: its id and the secret every later call about it must carry.
  matchmaking::JobId submitJob(const matchmaking::JobRequest& request, double now);
  std::string jobView(const matchmaking::JobId& job, double now);
  /// Checks that `provider` may receive an artifact of `job` now; returns the file the upload goes to.
  std::string artifactTarget(const matchmaking::JobId& job, const std::string& provider, const std::string& path,
                             double now);
  void recordArtifact(uint64_t job, const std::string& provider, const std::string& path, uint64_t size,
                      const std::string& sha256);
  void commit(const matchmaking::JobId& job, const std::string& planJson, double now);
  /// Drops an open job, whose requester asked for it (`job`'s secret is checked) or went away mid-upload.
  void dropJob(const matchmaking::JobId& job, const std::string& why);
  /// The file holding `path` for the provider `name` of `job`, and its size and checksum; checks the session.
  std::pair<std::string, StateStore::Artifact> artifactSource(uint64_t job, const std::string& name,
                                                              uint64_t session, const std::string& path);
  /// Moves jobs along, marks silent providers lost and drops the jobs of silent requesters.
  void tick(double now);
  /// What the status page shows (its schema: docs/matchmaker.md).
  std::string statusJson(double now, const std::string& address, const std::string& statusAddress);

 private:
  struct ProbeInFlight {
    std::string prober, target;
    double since = 0;
  };
  nlohmann::json& provider(const std::string& name, uint64_t session);
  nlohmann::json& job(uint64_t id);
  /// The job, after checking the requester's secret (PERMISSION_DENIED otherwise).
  nlohmann::json& ownedJob(const matchmaking::JobId& id);
  void saveProvider(const nlohmann::json& provider);
  void saveJob(const nlohmann::json& job);
  void release(nlohmann::json& job);
  void drop(nlohmann::json& job, const std::string& why);
  void advance(nlohmann::json& job, double now);
  void startProbing(nlohmann::json& job);
  void handOutProbes(nlohmann::json& job, double now);
  void recordLink(const std::string& from, const matchmaking::PeerLink& link, double now);
  /// Takes a heartbeat's probe result only when that probe is in flight for that prober; true when taken.
  bool takeProbeResult(const std::string& prober, const matchmaking::PeerLink& link, double now);
  /// Idle, alive providers in the order they joined.
  std::vector<std::string> idleProviders(double now) const;
  bool alive(const nlohmann::json& provider, double now) const;
  std::string artifactFile(uint64_t job, const std::string& provider, const std::string& path) const;

  const MatchmakerOptions options_;
  std::mutex mutex_;
  StateStore store_;
  std::map<std::string, nlohmann::json> providers_;
  std::map<uint64_t, nlohmann::json> jobs_;
  std::map<std::pair<std::string, std::string>, nlohmann::json> links_;
  // Probing is not persisted: a restarted matchmaker measures a probing job's missing links again.
  std::map<uint64_t, std::vector<std::pair<std::string, std::string>>> probesPending_;
  std::map<uint64_t, std::vector<ProbeInFlight>> probesInFlight_;
  std::map<std::string, std::vector<matchmaking::ProbeTask>> tasksFor_;
  std::map<uint64_t, double> requesterSeen_;
  const double started_;
  uint64_t nextJob_ = 1;
  uint64_t joinCounter_ = 0;
};

}  // namespace ravnest::detail
