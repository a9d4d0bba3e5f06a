#pragma once

#include <string>

namespace ravnest {

/// How a provider or a requester reaches a matchmaker.
struct MatchmakerClientOptions {
  std::string address;   // host:port of its gRPC service
  std::string token;     // the matchmaker's --token; empty when it has none
  std::string tlsCaFile; // PEM of the CA that signed the matchmaker's certificate; empty: plaintext
};

}  // namespace ravnest
