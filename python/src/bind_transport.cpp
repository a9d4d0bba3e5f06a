// Python bindings of the tensor codecs and the peer transport. Blocking calls release the GIL.
#include "bindings.h"

#include <pybind11/chrono.h>
#include <pybind11/stl.h>
#include <torch/csrc/utils/pybind.h>

#include <chrono>
#include <optional>

#include "ravnest/comm/peer_client.h"
#include "ravnest/comm/peer_server.h"
#include "ravnest/common/error.h"
#include "ravnest/tensor/codec.h"

namespace py = pybind11;

namespace {

ravnest::MessageKind parseKind(const std::string& name) {
  if (name == "activation") return ravnest::MessageKind::kActivation;
  if (name == "gradient") return ravnest::MessageKind::kGradient;
  if (name == "ring_chunk") return ravnest::MessageKind::kRingChunk;
  if (name == "control") return ravnest::MessageKind::kControl;
  throw ravnest::InvalidArgumentError("unknown message kind '" + name +
                                      "': use activation, gradient, ring_chunk or control");
}

std::string kindKey(ravnest::MessageKind kind) {
  static const char* const kNames[] = {"activation", "gradient", "ring_chunk", "control"};
  return kNames[static_cast<size_t>(kind)];
}

std::chrono::milliseconds toMilliseconds(double seconds) {
  RAVNEST_CHECK(seconds > 0, "timeouts and deadlines must be positive, got ", seconds);
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

ravnest::TransportOptions transportOptions(const std::string& authToken, double deadlineSeconds,
                                           size_t inboxCapacity) {
  ravnest::TransportOptions options;
  options.authToken = authToken;
  options.deadline = toMilliseconds(deadlineSeconds);
  options.inboxCapacity = inboxCapacity;
  return options;
}

py::dict tensorsAsDict(const std::vector<ravnest::NamedTensor>& tensors) {
  py::dict result;
  for (const auto& named : tensors) result[py::str(named.name)] = named.tensor;
  return result;
}

}  // namespace

void bindTransport(py::module_& m) {
  py::class_<ravnest::EncodedTensor>(m, "EncodedTensor", "A tensor in its wire form.")
      .def_property_readonly("codec", [](const ravnest::EncodedTensor& e) { return ravnest::codecName(e.meta.codec); })
      .def_property_readonly("byte_count", [](const ravnest::EncodedTensor& e) { return e.meta.byteCount; })
      .def_property_readonly("shape", [](const ravnest::EncodedTensor& e) { return e.meta.shape; })
      .def_readonly("bytes", &ravnest::EncodedTensor::bytes, "The encoded bytes, a 1-D uint8 tensor.");

  m.def(
      "encode_tensor",
      [](const at::Tensor& tensor, const std::string& codec, int64_t blockSize) {
        return ravnest::encodeTensor(tensor, ravnest::parseCodec(codec), blockSize);
      },
      py::arg("tensor"), py::arg("codec") = "none", py::arg("block_size") = ravnest::kDefaultInt8BlockSize,
      "Encodes a tensor as it travels on the wire: codec none, fp16, bf16 or int8-blockwise.");
  m.def(
      "decode_tensor", [](const ravnest::EncodedTensor& encoded) { return ravnest::decodeTensor(encoded); },
      py::arg("encoded"), "Rebuilds the tensor from its wire form (validating it first).");

  py::class_<ravnest::Message>(m, "Message", "A received message.")
      .def_property_readonly("kind", [](const ravnest::Message& message) { return kindKey(message.kind); })
      .def_readonly("sender", &ravnest::Message::sender)
      .def_readonly("id", &ravnest::Message::id)
      .def_property_readonly("tensors", [](const ravnest::Message& message) { return tensorsAsDict(message.tensors); },
                             "The tensors by name, in the order they were sent.");

  py::class_<ravnest::PeerServer>(m, "PeerServer", "A node's gRPC server with one bounded inbox per message kind.")
      .def(py::init([](const std::string& nodeName, const std::string& address, const std::string& authToken,
                       size_t inboxCapacity, int ringPort) {
             ravnest::TransportOptions options = transportOptions(authToken, 60.0, inboxCapacity);
             options.ringPort = ringPort;
             return std::make_unique<ravnest::PeerServer>(nodeName, address, options);
           }),
           py::arg("node_name"), py::arg("address") = "127.0.0.1:0", py::arg("auth_token") = "",
           py::arg("inbox_capacity") = 16, py::arg("ring_port") = 0, py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("port", &ravnest::PeerServer::port)
      .def_property_readonly("ring_port", &ravnest::PeerServer::ringPort,
                             "Where ring connections are accepted (0: none, ring chunks come as gRPC messages).")
      .def_property_readonly("node_name", &ravnest::PeerServer::nodeName)
      .def_property_readonly("refused_requests", &ravnest::PeerServer::refusedRequests)
      .def_property_readonly("rejected_messages", &ravnest::PeerServer::rejectedMessages)
      .def(
          "receive",
          [](ravnest::PeerServer& server, const std::string& kind, double timeout) -> std::optional<ravnest::Message> {
            ravnest::Inbox& inbox = server.inbox(parseKind(kind));
            const auto wait = toMilliseconds(timeout);
            py::gil_scoped_release released;
            return inbox.pop(wait);
          },
          py::arg("kind") = "activation", py::arg("timeout") = 10.0,
          "Waits up to `timeout` seconds for a message of `kind`; returns None on timeout.")
      .def("shutdown", &ravnest::PeerServer::shutdown, py::call_guard<py::gil_scoped_release>());

  py::class_<ravnest::PeerClient>(m, "PeerClient", "A persistent connection to one peer.")
      .def(py::init([](const std::string& nodeName, const std::string& target, const std::string& authToken,
                       double deadline, const std::string& tlsCa) {
             ravnest::TransportOptions options = transportOptions(authToken, deadline, 16);
             options.tlsCaFile = tlsCa;
             return std::make_unique<ravnest::PeerClient>(nodeName, target, options);
           }),
           py::arg("node_name"), py::arg("target"), py::arg("auth_token") = "", py::arg("deadline") = 60.0,
           py::arg("tls_ca") = "", "tls_ca: a CA file (PEM) to verify a TLS peer against; empty: plaintext.")
      .def(
          "send",
          [](const ravnest::PeerClient& client, const py::dict& tensors, const std::string& kind, uint64_t id,
             const std::string& codec) {
            ravnest::Message message;
            message.kind = parseKind(kind);
            message.id = id;
            for (const auto& [name, tensor] : tensors) {
              message.tensors.push_back({py::cast<std::string>(name), py::cast<at::Tensor>(tensor)});
            }
            const ravnest::CodecKind codecKind = ravnest::parseCodec(codec);
            py::gil_scoped_release released;
            client.send(std::move(message), codecKind);
          },
          py::arg("tensors"), py::arg("kind") = "activation", py::arg("id") = 0, py::arg("codec") = "none",
          "Sends named tensors; returns once they are in the peer's inbox. Raises NetworkError, TimeoutError or "
          "ProtocolError.")
      .def("ping", [](const ravnest::PeerClient& client, const std::string& payload) {
            py::gil_scoped_release released;
            return client.ping(payload);
          }, py::arg("payload") = "", "Round trip to the peer; returns its node name.")
      .def(
          "send_raw_frames",
          [](const ravnest::PeerClient& client, const std::vector<py::bytes>& frames) {
            std::vector<std::string> raw(frames.begin(), frames.end());
            py::gil_scoped_release released;
            return client.sendRawFrames(raw);
          },
          py::arg("frames"),
          "Sends the byte strings as the frames of one Transfer call, exactly as given (for tests that play a "
          "hostile peer). Returns (gRPC status code, message); 0 is OK.")
      .def_property_readonly("target", &ravnest::PeerClient::target);
}
