#include "node/outbox.h"

namespace ravnest::detail {

Outbox::Outbox(PeerLinks& links, const DeviceCopies& copies, int stage)
    : links_(links), copies_(copies), stage_(stage), queue_(1, [this](Item& item) {
        copies_.toHost(item.message, item.ready);
        links_.send(stage_, std::move(item.message), item.codec);
      }) {}

void Outbox::post(Message message, CodecKind codec) {
  DeviceCopies::ReadyMark ready = copies_.markReady(message);
  queue_.push({std::move(message), codec, std::move(ready)});
}

void Outbox::close() {
  queue_.drain();
  links_.flush(stage_);
}

}  // namespace ravnest::detail
