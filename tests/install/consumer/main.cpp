// Sends a tensor to itself through an installed libravnest and checks that it arrives intact.
#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>

#include "ravnest/comm/peer_client.h"
#include "ravnest/comm/peer_server.h"

int main() {
  ravnest::PeerServer server("consumer", "127.0.0.1:0");
  ravnest::PeerClient client("consumer", "127.0.0.1:" + std::to_string(server.port()));
  ravnest::Message message;
  const at::Tensor sent = at::arange(12, at::kFloat).reshape({3, 4});
  message.tensors.push_back({"x", sent});
  client.send(message);
  const auto received = server.inbox(ravnest::MessageKind::kActivation).pop(std::chrono::seconds(10));
  if (!received || !at::equal(received->tensors.at(0).tensor, sent)) {
    std::fprintf(stderr, "consumer: the tensor did not arrive intact\n");
    return 1;
  }
  std::printf("consumer: installed ravnest works\n");
  return 0;
}
