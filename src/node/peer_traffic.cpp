#include "node/peer_traffic.h"

#include <map>
#include <string>

namespace ravnest::detail {
namespace {

/// Every peer the node JSON names: node name -> address.
std::map<std::string, std::string> knownPeers(const NodeConfig& config) {
  std::map<std::string, std::string> addresses;
  for (const auto& member : config.clusterNodes) addresses[member.name()] = member.address;
  const auto nameOf = [](int nodeId) { return "node_" + std::to_string(nodeId); };
  for (const auto& ring : config.rings) {
    if (ring.nextNodeId >= 0) addresses[nameOf(ring.nextNodeId)] = ring.nextAddress;
    if (ring.previousNodeId >= 0 && !ring.previousAddress.empty()) {
      addresses[nameOf(ring.previousNodeId)] = ring.previousAddress;
    }
  }
  return addresses;
}

}  // namespace

std::vector<PeerTraffic> peerTraffic(const NodeConfig& config, const TrafficCounters& traffic) {
  const auto addresses = knownPeers(config);
  std::map<std::string, std::string> names;  // address -> node name
  for (const auto& [name, address] : addresses) names[address] = name;

  // Keyed by name where known, else by the address or name the bytes were counted under.
  std::map<std::string, PeerTraffic> peers;
  for (const auto& [address, bytes] : traffic.sentTo.snapshot()) {
    const auto found = names.find(address);
    const std::string name = found == names.end() ? std::string() : found->second;
    PeerTraffic& peer = peers[name.empty() ? address : name];
    peer.name = name;
    peer.address = address;
    peer.bytesSent += bytes;
  }
  for (const auto& [name, bytes] : traffic.receivedFrom.snapshot()) {
    const auto found = addresses.find(name);
    PeerTraffic& peer = peers[name];
    peer.name = name;
    if (found != addresses.end()) peer.address = found->second;
    peer.bytesReceived += bytes;
  }
  std::vector<PeerTraffic> result;
  for (auto& [key, peer] : peers) result.push_back(std::move(peer));
  return result;
}

}  // namespace ravnest::detail
