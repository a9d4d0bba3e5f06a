// A peer process for the failure tests: it serves on 127.0.0.1 (port 0), prints "PORT <n>" and drains its
// inboxes until it is killed. Flags: --token T sets the job token.
#include <chrono>
#include <cstdio>
#include <string>

#include "ravnest/comm/peer_server.h"

int main(int argc, char** argv) {
  ravnest::TransportOptions options;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--token") options.authToken = argv[i + 1];
  }
  ravnest::PeerServer server("test_peer", "127.0.0.1:0", options);
  std::printf("PORT %d\n", server.port());
  std::fflush(stdout);
  for (;;) {
    for (size_t kind = 0; kind < ravnest::kMessageKindCount; ++kind) {
      server.inbox(static_cast<ravnest::MessageKind>(kind)).pop(std::chrono::milliseconds(50));
    }
  }
}
