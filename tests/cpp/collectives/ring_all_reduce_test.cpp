// The ring all-reduce between real servers on 127.0.0.1, one member per thread, over ring connections and over
// gRPC messages (the transport under TLS).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <thread>
#include <tuple>

#include "ravnest/collectives/ring_all_reduce.h"
#include "ravnest/common/error.h"

namespace ravnest {
namespace {

using State = std::unordered_map<std::string, at::Tensor>;

/// One node: its server and the tensors it holds.
struct Member {
  std::unique_ptr<PeerServer> server;
  State state;
  std::string address() const { return "127.0.0.1:" + std::to_string(server->port()); }
};

/// Runs `averageInPlace` on every all-reduce at once and rethrows the first failure.
void runAll(std::vector<std::unique_ptr<RingAllReduce>>& reducers, std::vector<State*> states) {
  std::vector<std::exception_ptr> failures(reducers.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < reducers.size(); ++i) {
    threads.emplace_back([&, i] {
      try {
        reducers[i]->averageInPlace(*states[i]);
      } catch (...) {
        failures[i] = std::current_exception();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (auto& failure : failures) {
    if (failure) std::rethrow_exception(failure);
  }
}

/// How the servers of a test take ring chunks: over ring connections, or as gRPC messages (the way under TLS).
enum class ChunkTransport { kRingConnection, kGrpc };

std::string transportName(ChunkTransport transport) {
  return transport == ChunkTransport::kRingConnection ? "RingConnection" : "Grpc";
}

TransportOptions serverOptions(ChunkTransport transport) {
  TransportOptions options;
  options.ringPort = transport == ChunkTransport::kRingConnection ? 0 : TransportOptions::kNoRingConnections;
  return options;
}

/// R clusters of one node each; every node holds all tensors, so one ring spans the whole state.
class SingleRingTest : public ::testing::TestWithParam<std::tuple<int, ChunkTransport>> {};

TEST_P(SingleRingTest, EveryReplicaHoldsTheExactMean) {
  const int ringSize = std::get<0>(GetParam());
  const std::vector<std::vector<int64_t>> shapes = {{7, 3}, {1}, {}, {2}, {5, 4, 3}, {0}};
  std::vector<Member> members(ringSize);
  for (int rank = 0; rank < ringSize; ++rank) {
    members[rank].server = std::make_unique<PeerServer>("node_" + std::to_string(rank), "127.0.0.1:0",
                                                        serverOptions(std::get<1>(GetParam())));
    // Some are parameters (leaves that require grad), as a node's are: averaging writes them in place.
    for (size_t t = 0; t < shapes.size(); ++t) {
      members[rank].state["t" + std::to_string(t)] = at::randn(shapes[t]).requires_grad_(t % 2 == 0);
    }
    members[rank].state["count"] = at::full({}, 10 * (rank + 1), at::kLong);
  }
  RingSpec spec;
  spec.ringId = 3;
  for (size_t t = 0; t < shapes.size(); ++t) {
    spec.tensorNames.push_back("t" + std::to_string(t));
    spec.numels.push_back(members[0].state["t" + std::to_string(t)].numel());
  }
  std::vector<std::unique_ptr<RingAllReduce>> reducers;
  std::vector<State*> states;
  RingAllReduceOptions options;
  options.segmentBytes = 16;  // several segments per chunk
  for (int rank = 0; rank < ringSize; ++rank) {
    RingSpec mine = spec;
    mine.nextAddress = members[(rank + 1) % ringSize].address();
    RingSpec counts{4, {"count"}, {1}, mine.nextAddress};
    reducers.push_back(std::make_unique<RingAllReduce>(*members[rank].server, "node_" + std::to_string(rank), rank,
                                                       ringSize, std::vector<RingSpec>{mine, counts}, options));
    states.push_back(&members[rank].state);
  }
  State expected;
  for (const auto& [name, tensor] : members[0].state) {
    at::Tensor sum = at::zeros_like(tensor, at::kDouble);
    for (const auto& member : members) sum += member.state.at(name).to(at::kDouble);
    expected[name] = sum / ringSize;
  }
  for (int round = 0; round < 2; ++round) runAll(reducers, states);  // the second round averages equal values
  for (const auto& member : members) {
    for (const auto& [name, tensor] : member.state) {
      const at::Tensor want = name == "count" ? expected[name].round().to(at::kLong) : expected[name].to(tensor.scalar_type());
      EXPECT_TRUE(at::allclose(tensor, want, 1e-6, 1e-6)) << name << " on " << member.server->nodeName();
      EXPECT_TRUE(at::equal(tensor, members[0].state.at(name))) << name << " differs between replicas";
    }
  }
  EXPECT_EQ(reducers[0]->rounds(), 2u);
}

INSTANTIATE_TEST_SUITE_P(RanksAndTransports, SingleRingTest,
                         ::testing::Combine(::testing::Values(2, 3, 4),
                                            ::testing::Values(ChunkTransport::kRingConnection, ChunkTransport::kGrpc)),
                         [](const auto& info) {
                           return std::to_string(std::get<0>(info.param)) + "Ranks" +
                                  transportName(std::get<1>(info.param));
                         });

TEST(RingAllReduceTest, AveragesAcrossAClusterOfThreeNodesAndOneOfTwo) {
  // Parameters p0..p4. Cluster A splits them {p0,p1} {p2} {p3,p4}; cluster B splits {p0,p1,p2} {p3,p4}.
  // Ranges held by one node in B span two nodes in A, so B's first node is in two rings.
  const std::vector<int64_t> numels = {10, 3, 7, 1, 6};
  auto name = [](int i) { return "p" + std::to_string(i); };
  std::vector<Member> a(3), b(2);
  for (auto* cluster : {&a, &b}) {
    for (auto& member : *cluster) member.server = std::make_unique<PeerServer>("node", "127.0.0.1:0");
  }
  const std::vector<int> holderInA = {0, 0, 1, 2, 2};
  const std::vector<int> holderInB = {0, 0, 0, 1, 1};
  State fullA, fullB;
  for (int i = 0; i < 5; ++i) {
    fullA[name(i)] = at::randn({numels[i]});
    fullB[name(i)] = at::randn({numels[i]});
    a[holderInA[i]].state[name(i)] = fullA[name(i)];
    b[holderInB[i]].state[name(i)] = fullB[name(i)];
  }
  struct Ring {
    uint32_t id;
    std::vector<int> params;
    int nodeInA, nodeInB;
  };
  const std::vector<Ring> rings = {{0, {0, 1}, 0, 0}, {1, {2}, 1, 0}, {2, {3, 4}, 2, 1}};
  auto specsFor = [&](int cluster, int node) {
    std::vector<RingSpec> specs;
    for (const Ring& ring : rings) {
      if ((cluster == 0 ? ring.nodeInA : ring.nodeInB) != node) continue;
      RingSpec spec;
      spec.ringId = ring.id;
      for (int p : ring.params) {
        spec.tensorNames.push_back(name(p));
        spec.numels.push_back(numels[p]);
      }
      spec.nextAddress = cluster == 0 ? b[ring.nodeInB].address() : a[ring.nodeInA].address();
      specs.push_back(spec);
    }
    return specs;
  };
  std::vector<std::unique_ptr<RingAllReduce>> reducers;
  std::vector<State*> states;
  for (int node = 0; node < 3; ++node) {
    reducers.push_back(std::make_unique<RingAllReduce>(*a[node].server, "a" + std::to_string(node), 0, 2, specsFor(0, node)));
    states.push_back(&a[node].state);
  }
  for (int node = 0; node < 2; ++node) {
    reducers.push_back(std::make_unique<RingAllReduce>(*b[node].server, "b" + std::to_string(node), 1, 2, specsFor(1, node)));
    states.push_back(&b[node].state);
  }
  State expected;
  for (int i = 0; i < 5; ++i) expected[name(i)] = (fullA[name(i)] + fullB[name(i)]) / 2;
  runAll(reducers, states);
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(at::allclose(a[holderInA[i]].state[name(i)], expected[name(i)], 1e-6, 1e-6)) << name(i);
    EXPECT_TRUE(at::equal(a[holderInA[i]].state[name(i)], b[holderInB[i]].state[name(i)])) << name(i);
  }
}

TEST(RingAllReduceTest, MembersThatTakeChunksDifferentlyStillAgree) {
  // Node 1 takes its chunks as gRPC messages (as under TLS): node 0 sends them so; the others use ring connections.
  constexpr int kRingSize = 3;
  std::vector<Member> members(kRingSize);
  at::Tensor mean = at::zeros({50});
  for (int rank = 0; rank < kRingSize; ++rank) {
    members[rank].server = std::make_unique<PeerServer>(
        "node", "127.0.0.1:0", serverOptions(rank == 1 ? ChunkTransport::kGrpc : ChunkTransport::kRingConnection));
    members[rank].state["w"] = at::randn({50});
    mean += members[rank].state["w"].to(at::kDouble) / kRingSize;
  }
  std::vector<std::unique_ptr<RingAllReduce>> reducers;
  std::vector<State*> states;
  for (int rank = 0; rank < kRingSize; ++rank) {
    RingSpec spec{0, {"w"}, {50}, members[(rank + 1) % kRingSize].address()};
    reducers.push_back(std::make_unique<RingAllReduce>(*members[rank].server, "node", rank, kRingSize,
                                                       std::vector<RingSpec>{spec}));
    states.push_back(&members[rank].state);
  }
  runAll(reducers, states);
  for (const auto& member : members) {
    EXPECT_TRUE(at::allclose(member.state.at("w"), mean.to(at::kFloat), 1e-6, 1e-6));
    EXPECT_TRUE(at::equal(member.state.at("w"), members[0].state.at("w")));
  }
}

class CompressedRingTest : public ::testing::TestWithParam<ChunkTransport> {};

TEST_P(CompressedRingTest, CompressedChunksStayWithinTheCodecBoundAndReplicasAgree) {
  constexpr int kRingSize = 3;
  std::vector<Member> members(kRingSize);
  for (auto& member : members) {
    member.server = std::make_unique<PeerServer>("node", "127.0.0.1:0", serverOptions(GetParam()));
    member.state["w"] = at::randn({1000});
  }
  at::Tensor mean = at::zeros({1000});
  for (const auto& member : members) mean += member.state.at("w") / kRingSize;
  RingAllReduceOptions options;
  options.codec = CodecKind::kFp16;
  std::vector<std::unique_ptr<RingAllReduce>> reducers;
  std::vector<State*> states;
  for (int rank = 0; rank < kRingSize; ++rank) {
    RingSpec spec{0, {"w"}, {1000}, members[(rank + 1) % kRingSize].address()};
    reducers.push_back(std::make_unique<RingAllReduce>(*members[rank].server, "node", rank, kRingSize,
                                                       std::vector<RingSpec>{spec}, options));
    states.push_back(&members[rank].state);
  }
  runAll(reducers, states);
  // Each of the R-1 compressed partial sums and the final value rounds once to half: relative error 2^-11 each.
  const at::Tensor bound = at::full({1000}, kRingSize * std::ldexp(1.0, -11)) * members[0].state["w"].abs().clamp_min(1) * 4;
  EXPECT_TRUE((members[0].state["w"] - mean).abs().le(bound).all().item<bool>());
  EXPECT_FALSE(at::equal(members[0].state["w"], mean)) << "fp16 should have rounded something";
  for (const auto& member : members) EXPECT_TRUE(at::equal(member.state.at("w"), members[0].state.at("w")));
}

INSTANTIATE_TEST_SUITE_P(Transports, CompressedRingTest,
                         ::testing::Values(ChunkTransport::kRingConnection, ChunkTransport::kGrpc),
                         [](const auto& info) { return transportName(info.param); });

TEST(RingAllReduceTest, ADeadMemberGivesANetworkErrorWithinTheDeadline) {
  PeerServer self("node_0", "127.0.0.1:0");
  auto dead = std::make_unique<PeerServer>("node_1", "127.0.0.1:0");
  const std::string deadAddress = "127.0.0.1:" + std::to_string(dead->port());
  dead->shutdown();
  RingAllReduceOptions options;
  options.chunkDeadline = std::chrono::milliseconds(1000);
  options.transport.deadline = std::chrono::milliseconds(1000);
  RingAllReduce reducer(self, "node_0", 0, 2, {RingSpec{0, {"w"}, {8}, deadAddress}}, options);
  State state{{"w", at::ones({8})}};
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(reducer.averageInPlace(state), NetworkError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(3000));
  EXPECT_TRUE(at::equal(state["w"], at::ones({8}))) << "a failed all-reduce must leave the tensors as they were";
}

TEST(RingAllReduceTest, ChunksOfUnknownRingsOtherRoundsOrWrongSizesAreRejected) {
  PeerServer server("node_0", "127.0.0.1:0", serverOptions(ChunkTransport::kGrpc));
  RingAllReduce reducer(server, "node_0", 0, 3, {RingSpec{5, {"w"}, {9}, "127.0.0.1:1"}});
  PeerClient intruder("node_2", "127.0.0.1:" + std::to_string(server.port()));
  auto chunk = [](uint32_t ring, uint64_t round, uint32_t step, int64_t numel) {
    Message message;
    message.kind = MessageKind::kRingChunk;
    message.ring = RingTag{ring, round, 0, step, 0};
    message.tensors.push_back({"chunk", at::ones({numel})});
    return message;
  };
  // Rank 0 receives from rank 2, which sends chunk 2 (3 elements of 9) at reduce-scatter step 0.
  EXPECT_NO_THROW(intruder.send(chunk(5, 0, 0, 3)));
  auto expectRejected = [&](const Message& message, const std::string& mentions) {
    try {
      intruder.send(message);
      FAIL() << "accepted a chunk that should mention " << mentions;
    } catch (const ProtocolError& error) {
      EXPECT_NE(std::string(error.what()).find(mentions), std::string::npos) << error.what();
    }
  };
  expectRejected(chunk(6, 0, 0, 3), "not a ring of node");
  expectRejected(chunk(5, 7, 0, 3), "is not running");
  expectRejected(chunk(5, 0, 2, 3), "out of range");
  expectRejected(chunk(5, 0, 0, 4), "expects 3");
  EXPECT_EQ(server.inbox(MessageKind::kRingChunk).size(), 1u);
}

TEST(RingAllReduceTest, ChunksFromAnyoneButThePreviousMemberAreRefused) {
  PeerServer server("node_0", "127.0.0.1:0", serverOptions(ChunkTransport::kGrpc));
  RingAllReduce reducer(server, "node_0", 0, 2, {RingSpec{5, {"w"}, {4}, "127.0.0.1:1", "127.0.0.1:1", "node_1"}});
  Message message;
  message.kind = MessageKind::kRingChunk;
  message.ring = RingTag{5, 0, 0, 0, 0};
  message.tensors.push_back({"chunk", at::ones({2})});  // rank 1 sends chunk 1 (2 of 4 elements) first
  try {
    PeerClient("node_7", "127.0.0.1:" + std::to_string(server.port())).send(message);
    FAIL() << "a chunk from outside the ring was accepted";
  } catch (const ProtocolError& error) {
    EXPECT_NE(std::string(error.what()).find("refused the message: ring chunk: node node_0 takes chunks of ring 5 "
                                             "only from node_1, not from 'node_7'"),
              std::string::npos)
        << error.what();
  }
  EXPECT_EQ(server.inbox(MessageKind::kRingChunk).size(), 0u);
  PeerClient("node_1", "127.0.0.1:" + std::to_string(server.port())).send(message);
  EXPECT_EQ(server.inbox(MessageKind::kRingChunk).size(), 1u);
}

TEST(RingAllReduceTest, ARejectedChunkOfTheRunningRoundLeavesTheTensorsAndItsPlaceTaken) {
  // Node 0 of a ring of two runs a round; the test plays node 1. Reduce-scatter segments of a running round are
  // added into node 0's buffers while they arrive, so rejecting one must not touch the tensors being averaged.
  PeerServer server0("node_0", "127.0.0.1:0", serverOptions(ChunkTransport::kGrpc));
  PeerServer server1("node_1", "127.0.0.1:0", serverOptions(ChunkTransport::kGrpc));
  RingAllReduceOptions options;
  options.chunkDeadline = std::chrono::milliseconds(1500);
  RingAllReduce reducer(server0, "node_0", 0, 2,
                        {RingSpec{5, {"w"}, {4}, "127.0.0.1:" + std::to_string(server1.port()), "", "node_1"}},
                        options);
  State state{{"w", at::ones({4})}};
  std::exception_ptr failure;
  std::thread round([&] {
    try {
      reducer.averageInPlace(state);
    } catch (...) {
      failure = std::current_exception();
    }
  });
  // Node 0's first segment reaching node 1 shows that its round is running.
  ASSERT_TRUE(server1.inbox(MessageKind::kRingChunk).pop(std::chrono::seconds(10)).has_value());
  PeerClient node1("node_1", "127.0.0.1:" + std::to_string(server0.port()));
  Message chunk;
  chunk.kind = MessageKind::kRingChunk;
  chunk.ring = RingTag{5, 0, 0, 0, 0};
  chunk.tensors.push_back({"chunk", at::full({2}, std::numeric_limits<float>::quiet_NaN())});
  auto expectRejected = [&](const std::string& mentions) {
    try {
      node1.send(chunk);
      ADD_FAILURE() << "accepted a chunk that should mention " << mentions;
    } catch (const ProtocolError& error) {
      EXPECT_NE(std::string(error.what()).find(mentions), std::string::npos) << error.what();
    }
  };
  expectRejected("NaN or Inf");
  chunk.tensors.front().tensor = at::ones({2});
  expectRejected("arrived twice");
  round.join();
  ASSERT_TRUE(failure);
  EXPECT_THROW(std::rethrow_exception(failure), TimeoutError);
  EXPECT_TRUE(at::equal(state["w"], at::ones({4}))) << "a rejected chunk must leave the tensors as they were";
}

}  // namespace
}  // namespace ravnest
