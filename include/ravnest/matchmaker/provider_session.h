#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "ravnest/matchmaker/matchmaker_client_options.h"
#include "ravnest/matchmaker/provider_profile.h"

namespace ravnest {

struct ProviderSessionOptions {
  MatchmakerClientOptions matchmaker;
  std::string name;           // empty: <host>-<port>
  std::string advertiseHost;  // empty: the local address this machine reaches the matchmaker from
  int port = 0;               // where it probes and later serves its stage; 0: any free port
  std::string workDir = ".";  // the artifacts go to <workDir>/node_data/
  std::optional<ProviderProfile> profile;  // unset: measured at join
  double benchmarkRamGb = 0;               // given by hand: wins over the measurement in cluster formation
  double benchmarkBandwidthMbps = 0;
};

/// What the matchmaker gave this provider.
struct ProviderAssignment {
  uint64_t job = 0;
  std::string nodeName;     // node_<id>: the name a Node reads its node JSON by
  std::string nodeDataDir;  // where its node_data/ was written
};

/// A provider's membership in a matchmaker: join (measuring itself and its link to the matchmaker), answer the
/// peer probes the matchmaker asks for, receive an assignment and its artifacts (checked against their SHA-256
/// before they are written), then heartbeat with training figures until finish(). A heartbeat thread of its own
/// keeps going while training runs; when the matchmaker is unreachable it retries with back-off and training is
/// not disturbed.
class ProviderSession {
 public:
  /// Measures and joins. Waits for a matchmaker that is not up yet (retrying with back-off, a log line each
  /// time) up to `joinTimeoutS` (<= 0: forever). Throws AuthenticationError for a wrong token,
  /// InvalidArgumentError for figures or a name the matchmaker refuses (ALREADY_EXISTS: the name is taken),
  /// TimeoutError when the matchmaker never answered.
  explicit ProviderSession(const ProviderSessionOptions& options, double joinTimeoutS = 0);
  ~ProviderSession();
  ProviderSession(const ProviderSession&) = delete;
  ProviderSession& operator=(const ProviderSession&) = delete;

  const std::string& name() const;
  std::string address() const;  // host:port announced
  const ProviderProfile& profile() const;
  /// Blocks until the matchmaker assigned this provider to a job and its artifacts are written, or `timeoutS`
  /// passed (<= 0: forever; then TimeoutError). `progress` (may be empty) is called with a line each time the
  /// provider's situation changes (measured, probing, assigned), from the calling thread.
  ProviderAssignment waitForAssignment(double timeoutS,
                                       const std::function<void(const std::string&)>& progress = {});
  /// Training figures sent with the next heartbeats (e.g. throughput, loss) and the node's role.
  void setFigures(const std::map<std::string, double>& figures, const std::string& role);
  /// Training ended: tells the matchmaker (best effort) and stops heartbeating.
  void finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ravnest
