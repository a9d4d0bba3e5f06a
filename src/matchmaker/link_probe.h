#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "matchmaker/tcp_server.h"

namespace ravnest::detail {

/// A link's measured figures, as one side saw them.
struct LinkFigures {
  double rttMs = 0;          // median of a few 1-byte round trips on an open TCP connection
  double bandwidthMbps = 0;  // receive rate of one TCP stream over its last three quarters
};

/// How long a probe streams to measure bandwidth; long enough for TCP to leave slow start on a 100 ms link.
constexpr double kProbeStreamSeconds = 1.0;

/// The receiving end of peer probes: a TCP listener on the provider's announced port that answers round trips
/// and sinks a stream, timing it. Each connection opens with a hello carrying a digest of the matchmaker's token
/// (never the token itself: probes are plain TCP); a wrong one is refused. Serves one connection at a time on a thread
/// of its own until destroyed.
class ProbeListener {
 public:
  /// Binds `host`:`port` (port 0: any free one). Throws ConfigError when it cannot.
  ProbeListener(const std::string& host, int port, const std::string& token);
  int port() const { return server_.port(); }

 private:
  void answer(int fd);

  const std::string secret_;
  TcpServer server_;  // last: it starts calling answer() as soon as it exists
};

/// Measures the link to the ProbeListener at `address` (host:port): round trips, then a stream of
/// `streamSeconds` whose receive rate the listener reports. Throws NetworkError when the peer cannot be
/// reached or refuses the token, TimeoutError when it stops answering.
LinkFigures probeLink(const std::string& address, const std::string& token,
                      double streamSeconds = kProbeStreamSeconds);

/// The rate of a stream from the receiver's arrival samples (seconds since start, cumulative bytes), over the
/// last three quarters of its duration: the first quarter holds TCP's slow start.
double streamRateMbps(const std::vector<std::pair<double, uint64_t>>& samples);

}  // namespace ravnest::detail
