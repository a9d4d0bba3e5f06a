#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace ravnest {

/// Base of every error the library throws. Python sees it as `ravnest.Error`.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A caller passed a value the API cannot use (Python: also a ValueError).
class InvalidArgumentError : public Error {
 public:
  using Error::Error;
};

/// Node metadata, routing or a config file is missing or malformed.
class ConfigError : public Error {
 public:
  using Error::Error;
};

/// A peer is unreachable, went away or refused us.
class NetworkError : public Error {
 public:
  using Error::Error;
};

/// A peer is running but refused this node: the two were given different job tokens, or their TLS setups do not
/// match (one serves TLS and the other does not, or a certificate is not signed by the other's CA). Retrying
/// cannot help, so a node waiting for its peers to start stops at once on it.
class AuthenticationError : public NetworkError {
 public:
  using NetworkError::NetworkError;
};

/// A wait ran past its deadline. A timed-out peer is a network failure, so this is a NetworkError.
class TimeoutError : public NetworkError {
 public:
  using NetworkError::NetworkError;
};

/// A message broke the wire protocol: unknown dtype or codec, wrong byte count, sizes over the limits.
class ProtocolError : public Error {
 public:
  using Error::Error;
};

/// A message came from a node that may not send it (not this node's upstream, downstream or ring neighbour).
/// A receiver answers it with PERMISSION_DENIED.
class PermissionError : public ProtocolError {
 public:
  using ProtocolError::ProtocolError;
};

namespace detail {

template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

}  // namespace detail
}  // namespace ravnest

/// Throws `ErrorType` with the streamed message parts and the source location when `cond` is false.
#define RAVNEST_CHECK_AS(ErrorType, cond, ...)                                                       \
  do {                                                                                                \
    if (!(cond)) {                                                                                    \
      throw ErrorType(::ravnest::detail::concat(__VA_ARGS__, " [", __FILE__, ":", __LINE__, "]"));    \
    }                                                                                                 \
  } while (false)

/// Input check for public entry points: throws InvalidArgumentError naming file and line.
#define RAVNEST_CHECK(cond, ...) RAVNEST_CHECK_AS(::ravnest::InvalidArgumentError, cond, __VA_ARGS__)
