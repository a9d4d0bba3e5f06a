#include "comm/grpc/tls_credentials.h"

#include <fstream>
#include <sstream>
#include <string>

#include "ravnest/common/error.h"

namespace ravnest::detail {
namespace {

std::string readPem(const std::string& path, const char* what) {
  std::ifstream file(path, std::ios::binary);
  RAVNEST_CHECK_AS(ConfigError, file.good(), "cannot read the TLS ", what, " '", path, "'");
  std::ostringstream contents;
  contents << file.rdbuf();
  RAVNEST_CHECK_AS(ConfigError, contents.str().find("-----BEGIN") != std::string::npos, "the TLS ", what, " '", path,
                   "' is not a PEM file");
  return contents.str();
}

}  // namespace

std::shared_ptr<grpc::ServerCredentials> serverCredentials(const TransportOptions& options) {
  const bool hasCert = !options.tlsCertFile.empty();
  const bool hasKey = !options.tlsKeyFile.empty();
  RAVNEST_CHECK_AS(ConfigError, hasCert == hasKey, "TLS needs both a certificate and its key (got only the ",
                   hasCert ? "certificate" : "key", ")");
  if (!hasCert) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({readPem(options.tlsKeyFile, "key"), readPem(options.tlsCertFile, "certificate")});
  return grpc::SslServerCredentials(ssl);
}

std::shared_ptr<grpc::ChannelCredentials> channelCredentials(const TransportOptions& options) {
  if (!clientUsesTls(options)) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = readPem(options.tlsCaFile, "CA file");
  return grpc::SslCredentials(ssl);
}

}  // namespace ravnest::detail
