// TLS between peers, on certificates this test makes with openssl: a CA, a node certificate it signs for
// 127.0.0.1 and localhost, and a second CA that signed nothing the server presents.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "ravnest/comm/peer_client.h"
#include "ravnest/comm/peer_server.h"
#include "ravnest/common/error.h"

namespace ravnest {
namespace {

namespace fs = std::filesystem;

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("ravnest_tls_test_" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    const std::string newKey = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    const std::vector<std::string> commands = {
        "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext",
        "openssl req -x509" + newKey + " -keyout ca.key -out ca.pem -days 1 -subj /CN=ravnest-test-ca",
        "openssl req -x509" + newKey + " -keyout other.key -out other_ca.pem -days 1 -subj /CN=other-ca",
        "openssl req" + newKey + " -keyout node.key -out node.csr -subj /CN=ravnest-node",
        "openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out node.pem -days 1 "
        "-extfile san.ext",
    };
    std::string script = "cd " + dir_->string() + " && (true";
    for (const auto& command : commands) script += " && " + command;
    script += ") > openssl.log 2>&1";
    ASSERT_EQ(std::system(script.c_str()), 0) << "openssl failed, see " << dir_->string() << "/openssl.log";
  }

  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }

  static std::string file(const char* name) { return (*dir_ / name).string(); }

  static TransportOptions serverTls() {
    TransportOptions options;
    options.tlsCertFile = file("node.pem");
    options.tlsKeyFile = file("node.key");
    return options;
  }

  static TransportOptions clientTrusting(const char* ca) {
    TransportOptions options;
    options.tlsCaFile = file(ca);
    options.deadline = std::chrono::seconds(5);
    return options;
  }

  static Message messageOf(const at::Tensor& tensor) {
    Message message;
    message.tensors.push_back({"x", tensor});
    return message;
  }

  static fs::path* dir_;
};

fs::path* TlsTest::dir_ = nullptr;

TEST_F(TlsTest, ATensorTravelsOverTlsIntact) {
  PeerServer server("node_1", "127.0.0.1:0", serverTls());
  PeerClient client("node_0", "127.0.0.1:" + std::to_string(server.port()), clientTrusting("ca.pem"));
  const at::Tensor sent = at::randn({1000, 33});
  client.send(messageOf(sent));
  const auto received = server.inbox(MessageKind::kActivation).pop(std::chrono::seconds(5));
  ASSERT_TRUE(received.has_value());
  EXPECT_TRUE(at::equal(received->tensors.at(0).tensor, sent));
  EXPECT_EQ(client.ping(), "node_1");
}

TEST_F(TlsTest, TheCertificateNamesLocalhostToo) {
  PeerServer server("node_1", "127.0.0.1:0", serverTls());
  PeerClient client("node_0", "localhost:" + std::to_string(server.port()), clientTrusting("ca.pem"));
  EXPECT_EQ(client.ping(), "node_1");
}

TEST_F(TlsTest, APlaintextClientIsToldTheServerMayExpectTls) {
  PeerServer server("node_1", "127.0.0.1:0", serverTls());
  TransportOptions plaintext;
  plaintext.deadline = std::chrono::seconds(5);
  PeerClient client("node_0", "127.0.0.1:" + std::to_string(server.port()), plaintext);
  try {
    client.send(messageOf(at::ones({4})));
    FAIL() << "a plaintext client reached a TLS server";
  } catch (const NetworkError& error) {
    EXPECT_NE(std::string(error.what()).find("expect TLS"), std::string::npos) << error.what();
  }
  EXPECT_EQ(server.inbox(MessageKind::kActivation).size(), 0u);
}

TEST_F(TlsTest, AServerCertificateFromAnotherCaIsRefused) {
  PeerServer server("node_1", "127.0.0.1:0", serverTls());
  PeerClient client("node_0", "127.0.0.1:" + std::to_string(server.port()), clientTrusting("other_ca.pem"));
  try {
    client.send(messageOf(at::ones({4})));
    FAIL() << "a certificate from an untrusted CA was accepted";
  } catch (const NetworkError& error) {
    const std::string what = error.what();
    EXPECT_NE(what.find("signed by our CA file"), std::string::npos) << what;
  }
  EXPECT_EQ(server.inbox(MessageKind::kActivation).size(), 0u);
}

TEST_F(TlsTest, ACertificateWithoutItsKeyIsAConfigError) {
  TransportOptions options;
  options.tlsCertFile = file("node.pem");
  EXPECT_THROW(PeerServer("node_1", "127.0.0.1:0", options), ConfigError);
}

TEST_F(TlsTest, AMissingCaFileIsAConfigErrorNamingIt) {
  try {
    PeerClient("node_0", "127.0.0.1:1", clientTrusting("absent.pem"));
    FAIL() << "a missing CA file was accepted";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("absent.pem"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace ravnest
