#pragma once

#include <memory>
#include <string>

namespace ravnest {

struct MatchmakerOptions {
  std::string host = "0.0.0.0";
  int port = 7000;          // gRPC; 0: any free port
  int statusPort = 0;       // the status page (HTTP); 0: port + 1 (any free one when port is 0); -1: none
  std::string token;        // providers and requesters must present it; empty: anyone may join
  std::string stateDir = "matchmaker_state";  // holds matchmaker.sqlite3 and the uploaded artifacts
  std::string tlsCertFile;  // both set: the gRPC service speaks TLS (the status page stays plain HTTP)
  std::string tlsKeyFile;
  double heartbeatIntervalS = 1.0;  // what providers are told to use
  double providerLostAfterS = 10.0; // a provider silent this long is shown lost and leaves a job not yet running
  double requesterLostAfterS = 15.0;// a job not yet running whose requester is silent this long is dropped
  double probeTimeoutS = 30.0;      // a peer probe not reported by then counts as failed
};

/// The matchmaker: a gRPC service where providers join and are measured and requesters submit jobs, with its
/// state in SQLite, and a status page. Starts serving in the constructor; a restarted matchmaker with the same
/// stateDir recovers its jobs and providers. Throws ConfigError when the ports cannot be bound or the state
/// cannot be opened.
class MatchmakerServer {
 public:
  explicit MatchmakerServer(const MatchmakerOptions& options);
  ~MatchmakerServer();
  MatchmakerServer(const MatchmakerServer&) = delete;
  MatchmakerServer& operator=(const MatchmakerServer&) = delete;

  int port() const;        // the gRPC port bound
  int statusPort() const;  // the status page's port; -1 without one
  /// Blocks until shutdown() (from another thread or a signal handler's thread).
  void wait();
  void shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ravnest
