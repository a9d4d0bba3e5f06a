#include "node/outbox.h"

namespace ravnest::detail {

Outbox::Outbox(PeerLinks& links, int stage)
    : links_(links), stage_(stage), queue_(1, [this](Item& item) {
        links_.send(stage_, std::move(item.message), item.codec);
      }) {}

void Outbox::post(Message message, CodecKind codec) {
  queue_.push({std::move(message), codec});
}

void Outbox::close() {
  queue_.drain();
}

}  // namespace ravnest::detail
