#include "matchmaker/artifact_files.h"

#include <openssl/evp.h>

#include <array>
#include <fstream>

#include "ravnest/common/error.h"

namespace ravnest::detail {

struct Sha256::State {
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  ~State() { EVP_MD_CTX_free(context); }
};

Sha256::Sha256() : state_(std::make_unique<State>()) {
  RAVNEST_CHECK_AS(Error, state_->context && EVP_DigestInit_ex(state_->context, EVP_sha256(), nullptr) == 1,
                   "SHA-256: OpenSSL could not start a digest");
}

Sha256::~Sha256() = default;

void Sha256::add(const void* data, size_t size) {
  if (size > 0) EVP_DigestUpdate(state_->context, data, size);
}

std::string Sha256::hex() {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_DigestFinal_ex(state_->context, digest.data(), &length);
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += kDigits[digest[i] >> 4];
    out += kDigits[digest[i] & 15];
  }
  return out;
}

std::string sha256OfFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  RAVNEST_CHECK_AS(ConfigError, in, "cannot read ", path);
  Sha256 sha;
  std::string buffer(kArtifactChunkBytes, '\0');
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    sha.add(buffer.data(), static_cast<size_t>(in.gcount()));
  }
  return sha.hex();
}

void checkArtifactPath(const std::string& path) {
  RAVNEST_CHECK(!path.empty() && path.size() <= 255, "artifact path '", path, "' must have 1 to 255 bytes");
  RAVNEST_CHECK(path.front() != '/', "artifact path '", path, "' must be relative to node_data/");
  size_t start = 0;
  while (start <= path.size()) {
    const size_t end = std::min(path.find('/', start), path.size());
    const std::string part = path.substr(start, end - start);
    RAVNEST_CHECK(!part.empty() && part != "." && part != "..", "artifact path '", path,
                  "' has an empty, '.' or '..' part; it must stay inside node_data/");
    for (char c : part) {
      RAVNEST_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != '\\' && c != 0x7f, "artifact path '", path,
                    "' has a control character or backslash");
    }
    start = end + 1;
  }
}

}  // namespace ravnest::detail
